"""Log positions are 64-bit on both stores (migration 0004): the grant log goes on past 2**31."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select, update

from broker.grantlog import events
from broker.settings import Settings
from broker.storage.db import Store
from broker.storage.schema import checkpoints, grant_log, grant_log_terms, log_head

PAST_32_BITS = 2**31 + 10


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    store = Store(settings.resolved_database_url)
    yield store
    store.dispose()


def test_the_log_sequence_goes_past_32_bits(store: Store) -> None:
    event = events.Event(type=events.EventType.TOKEN_DENIED, actors=("travel-agent",), decision="deny")
    with store.write() as conn:
        conn.execute(update(log_head).values(size=PAST_32_BITS))
        seqs = events.append_many(conn, [(event, 1.0), (event, 2.0)])
        conn.execute(
            checkpoints.insert().values(
                tree_size=PAST_32_BITS + 2, root_hash="0" * 64, ts=2.0, key_id="k", note="n"
            )
        )
    assert seqs == [PAST_32_BITS + 1, PAST_32_BITS + 2]
    with store.read() as conn:
        stored = conn.execute(select(grant_log.c.seq).order_by(grant_log.c.seq)).scalars().all()
        terms = set(conn.execute(select(grant_log_terms.c.seq)).scalars())
        size = conn.execute(select(log_head.c.size)).scalar_one()
    assert stored[-2:] == seqs
    assert terms >= set(seqs)
    assert size == PAST_32_BITS + 2

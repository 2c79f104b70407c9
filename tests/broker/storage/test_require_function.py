"""discretion_require (migration 0006, PostgreSQL): the statement that fails by itself, which lets
the token group's re-check go out with the COMMIT unread (broker/storage/token_group.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from broker.settings import Settings
from broker.storage import recheck
from broker.storage.db import MIGRATIONS, Store


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    store = Store(settings.resolved_database_url)
    if store.is_sqlite:
        store.dispose()
        pytest.skip("PostgreSQL only: SQLite re-checks in the broker's process")
    yield store
    store.dispose()


def _require(store: Store, holds: str) -> object:
    with store.read() as conn:
        return conn.execute(text(f"SELECT discretion_require({holds}, 'a decision went stale')")).scalar_one()


def test_it_passes_a_condition_that_holds(store: Store) -> None:
    assert _require(store, "true") is True


@pytest.mark.parametrize("holds", ["false", "NULL"])
def test_it_fails_the_statement_with_its_own_sqlstate_otherwise(store: Store, holds: str) -> None:
    # NULL too: a comparison with a missing row must not pass for "holds".
    with pytest.raises(DBAPIError) as failed:
        _require(store, holds)
    assert getattr(failed.value.orig, "sqlstate", None) == recheck.STALE_SQLSTATE
    assert "a decision went stale" in str(failed.value.orig)


def test_the_migration_goes_down_and_up(store: Store) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.connect() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0005")
        conn.commit()
    with pytest.raises(DBAPIError):  # gone: every token group would now fail, closed
        _require(store, "true")
    store.migrate()
    assert _require(store, "true") is True

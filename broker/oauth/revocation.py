"""Revoking live tokens when a grant, a block, a suspension or a holder ends them."""

from __future__ import annotations

from collections.abc import Sequence

from broker.grantlog import events
from broker.storage import Connection
from broker.storage import agents as agent_store
from broker.storage import tokens as token_store
from broker.storage.tokens import TokenRecord
from policy import ListEntry, ListMode, Party, Role, check_parties


def revoke_and_log(conn: Connection, records: Sequence[TokenRecord], *, reason: str, now: float) -> int:
    """Revoke tokens and every live token derived from them, one grant-log event each; returns
    how many were revoked."""
    # The head lock comes first: descendants created by a concurrent exchange are then either
    # committed (and found here) or not yet decided (and their exchange sees the revocation).
    # It also makes the feed's sequence numbers follow commit order, so a cursor never skips one.
    events.lock_head(conn)
    records = _with_descendants(conn, records, now)
    for record in records:
        events.append(
            conn,
            events.Event(
                type=events.EventType.TOKEN_REVOKED,
                actors=record.parties,
                subject=record.user_ref,
                resource=record.audience,
                decision="revoked",
                reasons=(reason,),
                jti=record.jti,
                kid=record.kid,
            ),
            now=now,
        )
    token_store.revoke_tokens(conn, records, reason=reason, now=now)
    return len(records)


def _with_descendants(conn: Connection, records: Sequence[TokenRecord], now: float) -> list[TokenRecord]:
    if not records:
        return []
    chosen = {r.jti: r for r in records}
    for child in token_store.live_descendants(conn, records, now):
        chosen.setdefault(child.jti, child)
    return list(chosen.values())


def _parties_of(record: TokenRecord, agents: dict[str, agent_store.AgentRecord]) -> list[Party]:
    parties = []
    for client_id in record.parties:
        agent = agents.get(client_id)
        if agent is None:
            # An agent that vanished cannot be vetted, so treat it as a party nobody allowed.
            parties.append(Party(client_id=client_id, organization="", locale="", role=Role.ACTOR))
            continue
        role = Role.HOLDER if client_id == record.holder_id else Role.REQUESTER
        parties.append(agent.party(role))
    return parties


def revoke_refused_tokens(
    conn: Connection, user_ref: str, entries: Sequence[ListEntry], mode: ListMode, *, reason: str, now: float
) -> int:
    """Revoke the user's live tokens in which the user's lists now refuse some party."""
    live = token_store.live_tokens_for_user(conn, user_ref, now)
    if not live:
        return 0
    agents = agent_store.get_agents(conn, {p for record in live for p in record.parties})
    refused = [r for r in live if check_parties(_parties_of(r, agents), entries, mode)]
    return revoke_and_log(conn, refused, reason=reason, now=now)

"""The purpose vocabulary: admins register purposes (a code and a description) and retire them;
grants list registered purposes and token requests name one (docs/api.md, purposes).

A purpose is registered so that the permanent grant log only ever holds text an admin chose: an
agent can name a registered purpose or none, and a request naming anything else is refused before
the log is written. Registering and retiring are grant-log events. A retired purpose stays in the
vocabulary (readable, for the log's sake) but no new grant or token may name it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from broker.context import ServiceContext
from broker.errors import Conflict, NotFound, Unprocessable
from broker.grantlog import events
from broker.storage import Connection
from broker.storage import purposes as purpose_store
from broker.storage.purposes import PurposeRecord
from broker.validation import MAX_GRANT_PURPOSES, check_purpose, check_purpose_description

LIST_HINT = "GET /v1/purposes lists the registered purposes"


def _nothing() -> None:
    return None


class PurposeService:
    """Register, list and retire purposes. `changed` runs after every committed change (the token
    path's vocabulary cache forgets what it remembered: broker/oauth/caches/purposes.py)."""

    def __init__(self, ctx: ServiceContext, changed: Callable[[], None] = _nothing) -> None:
        self._ctx = ctx
        self._changed = changed

    def register(self, code: str, description: str, *, admin: str) -> PurposeRecord:
        """A new purpose; 422 for a malformed code or description, 409 when the code exists
        (retired or not: a code never comes back with another meaning)."""
        try:
            check_purpose(code)
            text = check_purpose_description(description)
        except ValueError as exc:
            raise Unprocessable(str(exc)) from exc
        with self._ctx.store.write() as conn:
            now = self._ctx.clock()
            if purpose_store.get(conn, code) is not None:
                raise Conflict("the purpose exists")
            record = PurposeRecord(code=code, description=text, created_at=now)
            purpose_store.insert_purpose(conn, record)
            events.append(
                conn,
                events.Event(
                    type=events.EventType.PURPOSE_REGISTERED,
                    details={"code": code, "description": text, "by": admin},
                ),
                now=now,
            )
        self._changed()
        return record

    def all(self) -> list[PurposeRecord]:
        """Every purpose, live and retired, by code."""
        with self._ctx.store.read() as conn:
            return purpose_store.all_purposes(conn)

    def retire(self, code: str, *, admin: str) -> PurposeRecord:
        """Retire a purpose: no new grant or token may name it; it stays listed. Retiring a
        retired purpose changes nothing."""
        try:
            check_purpose(code)  # before any read: a NUL byte would fail PostgreSQL's query
        except ValueError:
            raise NotFound("no such purpose") from None
        with self._ctx.store.write() as conn:
            now = self._ctx.clock()
            record = purpose_store.get(conn, code)
            if record is None:
                raise NotFound("no such purpose")
            if record.live:
                purpose_store.retire(conn, code, now)
                events.append(
                    conn,
                    events.Event(type=events.EventType.PURPOSE_RETIRED, details={"code": code, "by": admin}),
                    now=now,
                )
                record = PurposeRecord(
                    code=code, description=record.description, created_at=record.created_at, retired_at=now
                )
        self._changed()
        return record


def grant_purposes(conn: Connection, body: dict[str, Any]) -> tuple[str, ...]:
    """The registered, live purposes a new grant lists: `purposes`, or the older single `purpose`
    as a one-element list (not both). 422 names the field and points to the list; it never echoes
    what was sent."""
    listed, field = body.get("purposes"), "purposes"
    single = body.get("purpose")
    if listed is not None and single is not None:
        raise Unprocessable("give purposes or the older purpose, not both")
    if listed is None:
        listed, field = ([] if single is None else [single]), "purpose"
    if not isinstance(listed, Sequence) or isinstance(listed, str) or len(listed) > MAX_GRANT_PURPOSES:
        raise Unprocessable(f"purposes must be a list of at most {MAX_GRANT_PURPOSES} codes")
    live = purpose_store.live_codes(conn) if listed else frozenset()
    for i, code in enumerate(listed):
        where = field if field == "purpose" else f"purposes[{i}]"
        if not isinstance(code, str):
            raise Unprocessable(f"{where} must be a purpose code")
        try:
            check_purpose(code)
        except ValueError:
            raise Unprocessable(f"{where} is not a purpose code; {LIST_HINT}") from None
        if code not in live:
            raise Unprocessable(f"{where} is not a registered, live purpose; {LIST_HINT}")
    return tuple(dict.fromkeys(listed))

"""The grant log's size budget: no event is stored larger than MAX_EVENT_BYTES of canonical JSON.

The log is append-only and kept for good, so what an agent sends must not be able to grow it without
bound or park text (perhaps personal data) in it. Inputs are bounded where they are parsed (resource
URIs, scope and reveal lists, purposes, client ids, kids); this is the backstop every event passes
through (`events.event_rows`), whoever wrote it:

1. any string longer than MAX_STRING_CHARS is stored as its digest;
2. while the event is over budget, the largest replaceable value (the resource, the scope lists, a
   member of `details` or of `details.inputs`) is stored as its digest;
3. an event still over budget (its fixed members alone are too large) raises EventTooLarge, so the
   action it records does not happen: the log fails closed, it never stores an oversized event.

A digest is `{"digest": "sha256:<first 32 hex digits>", "length": <UTF-8 bytes>}`: enough for an
auditor holding a candidate text to confirm it, and nothing of the text itself.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

# 8 KiB: an event with a 2,048-character resource, 32 scopes, 32 reveal names and a full actor
# chain is well under it; a typical token event is under 1 KiB.
MAX_EVENT_BYTES = 8192
# The longest value a legitimate request carries: a resource URI (broker.validation).
MAX_STRING_CHARS = 2048
_DIGEST_HEX = 32
_DIGEST_BYTES = 80  # a digest's own canonical JSON, with a ten-digit length
# Members written by the broker itself (sequence, time, type, pseudonyms, ids, reason codes): never
# replaced, since the log's queries and replay read them.
_FIXED = frozenset(
    {"seq", "time_ms", "type", "actors", "subject", "decision", "reasons", "policy_version", "jti", "kid"}
)


class EventTooLarge(ValueError):
    """An event that does not fit the log's budget even with its replaceable values digested."""


def _dumps(value: Any) -> bytes:
    # The same bytes as events.canonical_json, which checks every stored event in full; here only
    # sizes and digests depend on it.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest(value: Any) -> dict[str, Any]:
    """The bounded stand-in for a value: SHA-256 prefix and length of its UTF-8 text (a string) or of
    its canonical JSON (anything else)."""
    data = value.encode() if isinstance(value, str) else _dumps(value)
    return {"digest": "sha256:" + hashlib.sha256(data).hexdigest()[:_DIGEST_HEX], "length": len(data)}


def is_digest(value: Any) -> bool:
    """Whether a logged value is a digest standing in for what was sent."""
    return isinstance(value, dict) and set(value) == {"digest", "length"}


def _long_strings(value: Any) -> Any:
    if isinstance(value, str):
        return digest(value) if len(value) > MAX_STRING_CHARS else value
    if isinstance(value, dict):
        return {k: _long_strings(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_long_strings(v) for v in value]
    return value


def _replaceable(body: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """(container, key) of the values step 2 may digest, in the order it prefers: the decision's
    inputs first (mostly copies of the top-level members), then the other details, then the
    resource and scope lists themselves."""
    details = body.get("details")
    details = details if isinstance(details, dict) else {}
    inputs = details.get("inputs")
    tiers: list[list[tuple[dict[str, Any], str]]] = [
        [(inputs, k) for k in inputs] if isinstance(inputs, dict) else [],
        [(details, k) for k in details if k != "inputs" or not isinstance(inputs, dict)],
        [(body, k) for k in body if k not in _FIXED and k != "details"],
    ]
    for tier in tiers:
        # Only values larger than their digest: replacing the others would not shrink the event.
        slots = [(c, k) for c, k in tier if len(_dumps(c[k])) > _DIGEST_BYTES and not is_digest(c[k])]
        if slots:
            return sorted(slots, key=lambda slot: -len(_dumps(slot[0][slot[1]])))
    return []


def bounded(body: dict[str, Any], encode: Callable[[Any], bytes]) -> tuple[dict[str, Any], bytes]:
    """The event body within budget and its bytes by `encode` (the log's canonical JSON); raises
    EventTooLarge if it cannot be."""
    data = encode(body)
    if len(data) <= MAX_STRING_CHARS:  # no string in it can be longer: the common case, one dump
        return body, data
    fixed = {k: v for k, v in body.items() if k in _FIXED}
    body = {**fixed, **{k: _long_strings(v) for k, v in body.items() if k not in _FIXED}}
    data = encode(body)
    while len(data) > MAX_EVENT_BYTES:
        slots = _replaceable(body)
        if not slots:
            raise EventTooLarge(f"a {body.get('type')} event is larger than {MAX_EVENT_BYTES} bytes")
        container, key = slots[0]
        container[key] = digest(container[key])
        data = encode(body)
    return body, data

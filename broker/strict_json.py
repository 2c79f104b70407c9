"""Strict JSON for what agents, users and admins send: one reading only, finite numbers, bounded depth.

Python's `json` accepts `NaN` and `Infinity`, reads `1e999` as infinity, keeps the last of duplicate
keys (other readers keep the first) and recurses without limit. Bodies, JWT headers and claims are
read here instead, so a value that two readers could read differently is refused at the door and
never reaches a decision, a database column or the grant log (I-JSON, RFC 7493).
"""

from __future__ import annotations

import json
import math
from typing import Any

# RFC 7493 section 2.2: integers outside +-(2**53 - 1) do not survive other readers.
MAX_SAFE_INTEGER = 2**53 - 1
DEFAULT_MAX_DEPTH = 32
# Array elements and object members in one document: far above any /v1 body (a grant, a JWKS of ten
# keys, a registration), far below what costs the parser noticeable time.
DEFAULT_MAX_MEMBERS = 4096


class StrictJSONError(ValueError):
    """Input that is not strict JSON; the message says why, without echoing the input."""


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise StrictJSONError("a member name is repeated")
    return result


def _refuse_constant(name: str) -> Any:
    raise StrictJSONError(f"{name} is not a JSON number")


def _bounded_int(text: str) -> int:
    # Checked on the digits first: int() on a 100,000-digit string is itself quadratic work.
    if len(text.lstrip("-")) > 16 or abs(value := int(text)) > MAX_SAFE_INTEGER:
        raise StrictJSONError("an integer is out of range")
    return value


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise StrictJSONError("a number is out of range")
    return value


_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))


def _skeleton(raw: bytes) -> bytes:
    """The bytes outside JSON strings. With escaped backslashes and then escaped quotes removed,
    every quote left delimits a string; all of it bytes methods, so no Python loop per byte."""
    if b'"' not in raw:
        return raw
    unescaped = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    return b"".join(unescaped.split(b'"')[0::2])


def _depth_of(skeleton: bytes, limit: int) -> bool:
    depth = 0
    for byte in skeleton.translate(None, _NOT_BRACKETS):
        if byte in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return False
        else:
            depth -= 1
    return True


def depth_within(raw: bytes, limit: int) -> bool:
    """Whether no array or object in `raw` nests deeper than `limit`; counted on the bytes, so a deep
    document never reaches the recursive parser."""
    return _depth_of(_skeleton(raw), limit)


def loads(
    raw: bytes | str,
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_members: int | None = DEFAULT_MAX_MEMBERS,
    nul_allowed: bool = False,
) -> Any:
    """Parse strict JSON or raise StrictJSONError: UTF-8, no duplicate names, no NaN or infinities,
    integers within +-(2**53 - 1), nesting at most `max_depth`, at most `max_members` array elements
    and object members in all (None: no cap), no unpaired surrogate escapes, and unless
    `nul_allowed` no NUL character (PostgreSQL text cannot hold one: it would be a 503)."""
    data = raw.encode() if isinstance(raw, str) else raw
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StrictJSONError("not UTF-8") from exc
    # Counted before parsing: the parser's per-value hooks are Python calls, and an unauthenticated
    # megabyte of `[1,1,...]` would otherwise cost seconds of the event loop (FastAPI reads a body
    # before it runs the route's authentication). Each element or member after a container's first
    # needs a comma outside strings; each string has two quotes. The raw counts settle almost every
    # document; the skeleton is built only when they do not, and then it has few strings to cut.
    if (
        max_members is not None
        and data.count(b",") >= max_members
        and (data.count(b'"') // 2 > max_members or _skeleton(data).count(b",") >= max_members)
    ):
        raise StrictJSONError(f"more than {max_members} values")
    if data.count(b"[") + data.count(b"{") > max_depth and not depth_within(data, max_depth):
        raise StrictJSONError(f"nested deeper than {max_depth} levels")
    try:
        value = json.loads(
            text,
            object_pairs_hook=_unique,
            parse_constant=_refuse_constant,
            parse_int=_bounded_int,
            parse_float=_finite_float,
        )
    except StrictJSONError:
        raise
    except (ValueError, RecursionError) as exc:
        raise StrictJSONError("not valid JSON") from exc
    if "\\u" in text and _has_lone_surrogate(value):
        raise StrictJSONError("contains an unpaired surrogate")
    if not nul_allowed and "\\u0000" in text and _has_nul(value):
        raise StrictJSONError("contains a NUL character")
    return value


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _has_lone_surrogate(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False

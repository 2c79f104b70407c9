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


def depth_within(raw: bytes, limit: int) -> bool:
    """Whether no array or object in `raw` nests deeper than `limit`; counted on the bytes, so a deep
    document never reaches the recursive parser."""
    depth = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return False
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return True


def loads(raw: bytes | str, *, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """Parse strict JSON or raise StrictJSONError: UTF-8, no duplicate names, no NaN or infinities,
    integers within +-(2**53 - 1), nesting at most `max_depth`, no unpaired surrogate escapes."""
    data = raw.encode() if isinstance(raw, str) else raw
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StrictJSONError("not UTF-8") from exc
    if not depth_within(data, max_depth):
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
    return value


def _has_lone_surrogate(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False

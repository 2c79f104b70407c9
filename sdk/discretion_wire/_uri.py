"""RFC 3986 section 6.2 normalization steps shared by DPoP's `htu` and resource indicators."""

from __future__ import annotations

import re
import string

DEFAULT_PORTS = {"http": 80, "https": 443}
PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")


def normalize_percent(match: re.Match[str]) -> str:
    """Undo an escape of an unreserved character; upper-case the hex digits of any other."""
    char = chr(int(match.group(1), 16))
    return char if char in _UNRESERVED else "%" + match.group(1).upper()


def remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4, for the absolute paths of http(s) URLs."""
    if "." not in path:
        return path
    segments = path.split("/")
    output: list[str] = []
    for segment in segments:
        if segment == ".":
            continue
        if segment == "..":
            if len(output) > 1:
                output.pop()
            continue
        output.append(segment)
    if segments[-1] in (".", ".."):
        output.append("")
    return "/".join(output)

"""Normalization before detection: NFKC, zero-width characters, `name [at] example [dot] com`.

Detection runs on the normalized text; `Normalized.span` maps a detected span back to the original,
so redaction replaces the original characters and untouched text is returned exactly as it came.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

# Zero-width and invisible formatting characters that split a value without showing it.
_INVISIBLE = frozenset("\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e\u2061\u2062\u2063\u2064")
# "[at]", "(at)", "{at}", "<at>", " at " between word characters, and the same for "dot".
_OPEN, _CLOSE = r"[\[\(\{<]", r"[\]\)\}>]"
_OBFUSCATED_PATTERN = (
    rf"\s*{_OPEN}\s*(?P<b>at|dot|@|\.)\s*{_CLOSE}\s*"
    r"|(?<=\w)\s+(?P<w>at|dot)\s+(?=\w)"
)
# Every match starts with whitespace or an opening bracket: the lookahead turns other positions
# away before the alternatives are tried (same matches, about twice as fast).
_OBFUSCATED = re.compile(rf"(?={_OPEN}|\s)(?:{_OBFUSCATED_PATTERN})", re.IGNORECASE)
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_TLD_AFTER = re.compile(r"\w+(?:\s+dot\s+\w+|\s*[\[\(\{<]\s*(?:dot|\.)\s*[\]\)\}>]\s*\w+)*", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Normalized:
    """Normalized text and, for each of its characters, the index of its source in the original."""

    text: str
    origin: tuple[int, ...] | None  # None: identical to the original
    size: int = 0  # the original's length, when origin is set

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original span that produced normalized characters [start, end).

        The span reaches up to the source of the next character, so a value that ends in a
        decoded escape (`%40`, `\u00e9`) is replaced whole, escape and all.
        """
        if self.origin is None:
            return start, end
        begin = self.origin[start]
        if end <= start:
            return begin, begin
        last = self.origin[end - 1]
        following = self.origin[end] if end < len(self.origin) else self.size
        return begin, max(last + 1, following if following > last else last + 1)


def _looks_obfuscated(text: str) -> bool:
    lowered = text.lower()
    return ("at" in lowered and ("dot" in lowered or "." in lowered)) and (
        "[" in text or "(" in text or "{" in text or "<" in text or " at " in lowered
    )


# Percent-encoded bytes (`%40`) and JSON escapes written out in text (`\u00e9`).
_ESCAPED = re.compile(r"(?:%[0-9A-Fa-f]{2})+|(?:\\u[0-9A-Fa-f]{4})+")


def _unescape(text: str) -> tuple[str, list[int] | None]:
    """Decode percent-encoding and written-out JSON escapes; each character maps to its escape."""
    out: list[str] = []
    origin: list[int] = []
    cursor = 0
    for match in _ESCAPED.finditer(text):
        run = match.group()
        if run.startswith("%"):
            pieces = [
                (match.start() + 3 * i, bytes([int(run[3 * i + 1 : 3 * i + 3], 16)]))
                for i in range(len(run) // 3)
            ]
            try:
                decoded = b"".join(p for _, p in pieces).decode("utf-8")
            except UnicodeDecodeError:
                continue
            starts = [match.start()] * len(decoded)
        else:
            units = [int(run[6 * i + 2 : 6 * i + 6], 16) for i in range(len(run) // 6)]
            try:
                decoded = b"".join(u.to_bytes(2, "big") for u in units).decode("utf-16-be")
            except UnicodeDecodeError:
                continue
            starts = [match.start()] * len(decoded)
        out.append(text[cursor : match.start()])
        origin.extend(range(cursor, match.start()))
        out.append(decoded)
        origin.extend(starts)
        cursor = match.end()
    if not out:
        return text, None
    out.append(text[cursor:])
    origin.extend(range(cursor, len(text)))
    return "".join(out), origin


def _compose(first: list[int] | None, second: list[int] | None) -> list[int] | None:
    if first is None:
        return second
    if second is None:
        return first
    return [first[i] for i in second]


def normalize(text: str) -> Normalized:
    """NFKC per character, invisible characters removed, escapes decoded, obfuscated `@` and `.` restored."""
    if ("%" in text or "\\u" in text) and _ESCAPED.search(text):
        unescaped, first = _unescape(text)
        if first is not None:
            inner = normalize(unescaped)
            origin = _compose(first, list(inner.origin) if inner.origin is not None else None)
            assert origin is not None
            return Normalized(inner.text, tuple(origin), len(text))
    if text.isascii():
        # NFKC leaves ASCII alone and no ASCII character is invisible (category Cf).
        if not _looks_obfuscated(text):
            return Normalized(text, None)
        normalized, origin = text, None
    else:
        normalized, origin = _fold(text)
    if _looks_obfuscated(normalized):
        normalized, origin = _deobfuscate(normalized, origin)
    if origin is None or normalized == text:
        return Normalized(text, None)
    return Normalized(normalized, tuple(origin), len(text))


def _changes(char: str) -> bool:
    return (
        char in _INVISIBLE
        or unicodedata.category(char) == "Cf"
        or not unicodedata.is_normalized("NFKC", char)
    )


def _fold(text: str) -> tuple[str, list[int] | None]:
    """Per-character NFKC with invisible characters dropped; (text, None) when nothing changes."""
    # Most non-ASCII text (accented names, street names) is already stable: check each distinct
    # non-ASCII character once before rebuilding the text character by character.
    if not any(_changes(char) for char in set(_NON_ASCII.findall(text))):
        return text, None
    chars: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        if char in _INVISIBLE or unicodedata.category(char) == "Cf":
            continue
        folded = unicodedata.normalize("NFKC", char) if not char.isascii() else char
        for piece in folded:
            chars.append(piece)
            origin.append(index)
    return "".join(chars), origin


_DOT_NEXT = re.compile(r"\.\w")


def _domain_after(text: str, position: int) -> bool:
    """A bare " at " is an "@" only before a domain: words joined by dots ("example dot com",
    "example.com"), not before any word ("document AT 76 58 12 C", "meet at noon")."""
    domain = _TLD_AFTER.match(text, position)
    if domain is None:
        return False
    dotted = _WORD_RUN.fullmatch(domain.group()) is None  # "example dot com", "example [.] com"
    return dotted or _DOT_NEXT.match(text, domain.end()) is not None


_WORD_RUN = re.compile(r"\w+")


def _deobfuscate(text: str, origin: list[int] | None) -> tuple[str, list[int] | None]:
    """Rewrite ` [at] ` to `@` and ` [dot] ` to `.` only where the result is shaped like an email.

    `origin` None means the identity mapping; it stays None when nothing is rewritten.
    """
    source: Sequence[int] = origin if origin is not None else range(len(text))
    out: list[str] = []
    out_origin: list[int] = []
    cursor = 0
    for match in _OBFUSCATED.finditer(text):
        word = (match.group("b") or match.group("w") or "").lower()
        symbol = "@" if word in ("at", "@") else "."
        if match.group("w") is not None and symbol == "@" and not _domain_after(text, match.end()):
            continue
        if match.group("w") is not None and symbol == "." and "@" not in "".join(out)[-64:]:
            # A bare " dot " is only rewritten inside an address that already has its "@".
            continue
        out.append(text[cursor : match.start()])
        out_origin.extend(source[cursor : match.start()])
        out.append(symbol)
        out_origin.append(source[match.start()])
        cursor = match.end()
    if not out:
        return text, origin
    out.append(text[cursor:])
    out_origin.extend(source[cursor:])
    return "".join(out), out_origin


# Characters that `re.IGNORECASE` matches to an ASCII letter but that `str.lower` does not turn into
# that letter (Python's `re` equivalences and the dotted capital I, which lowers to two characters).
_CASE_ODDITIES = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s"})


def folded(text: str) -> str:
    """Lower-case text for keyword pre-checks: contains `word` wherever `re.IGNORECASE` would find it."""
    if text.isascii() or not ("\u0130" in text or "\u0131" in text or "\u017f" in text):
        return text.lower()
    return text.translate(_CASE_ODDITIES).lower()

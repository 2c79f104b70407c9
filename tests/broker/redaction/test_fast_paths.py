"""Fast paths of the redaction engine: each one skips work only where that work cannot find anything.

Every shortcut is checked against the slow path it replaces, and with the entity it must still catch.
"""

from __future__ import annotations

import unicodedata

from hypothesis import example, given, settings
from hypothesis import strategies as st

from broker.redaction.normalize import _INVISIBLE, _deobfuscate, _looks_obfuscated, normalize

# Text built from the characters that matter here: ASCII, accented letters, full-width forms,
# ligatures, superscripts, invisible characters, and the pieces of an obfuscated address.
_PIECES = st.sampled_from(
    [
        "a",
        "Z",
        "7",
        " ",
        ".",
        "@",
        " at ",
        " dot ",
        " [at] ",
        "(dot)",
        "é",
        "ß",
        "\u0130",
        "\u0131",
        "\uff46",
        "\uff11",
        "\ufb01",
        "\u00b2",
        "\u200b",
        "\u00ad",
        "\ufeff",
        "\u2062",
        "e\u0301",
        "Ω",
        "\uff21",
        "jo",
        "example",
        "com",
    ]
)


def _slow_normalize(text: str) -> tuple[str, tuple[int, ...] | None]:
    """The per-character algorithm the fast paths must agree with."""
    chars: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        if char in _INVISIBLE or unicodedata.category(char) == "Cf":
            continue
        for piece in unicodedata.normalize("NFKC", char):
            chars.append(piece)
            origin.append(index)
    normalized = "".join(chars)
    mapping: list[int] | None = origin
    if _looks_obfuscated(normalized):
        normalized, mapping = _deobfuscate(normalized, origin)
    if normalized == text:
        return text, None
    assert mapping is not None
    return normalized, tuple(mapping)


@settings(max_examples=400, deadline=None)
@given(st.lists(_PIECES, max_size=24).map("".join))
@example("jo [at] example [dot] com")
@example("Café M\u00fcller")
@example("\uff4a\uff4f\uff20\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45\uff0e\uff43\uff4f\uff4d")
@example("jo\u200b@example.com")
@example("Reach them at 575 908 301.")
def test_normalize_matches_the_per_character_path(text: str) -> None:
    found = normalize(text)
    assert (found.text, found.origin) == _slow_normalize(text)


def test_stable_non_ascii_text_is_returned_as_is() -> None:
    found = normalize("Leocadia Nuñez, Hauptstraße 5, \u0130zmir")
    assert found.origin is None
    assert found.text == "Leocadia Nuñez, Hauptstraße 5, İzmir"


def test_invisible_and_full_width_characters_are_still_removed_in_accented_text() -> None:
    found = normalize("Nuñez: \uff4a\uff4f\u200b@exam\u00adple.com")
    assert found.text == "Nuñez: jo@example.com"
    start = found.text.index("jo@")
    assert found.span(start, len(found.text)) == (7, 23)

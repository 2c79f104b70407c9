"""The canonical skeleton of an organization's name: two names that a person would read as the same
organization have the same skeleton, so a block typed one way cannot be dodged by registering another.

`skeleton(name)`:

1. drops default-ignorable and format characters (zero-width joiners and spaces, bidi controls,
   variation selectors, soft hyphens);
2. folds to a fixed point: Unicode confusables (UTS #39, the vendored `data/confusables.txt`), NFKD,
   case folding, and the removal of combining marks (so "é" is "e");
3. deletes "." and apostrophes (so "S.A." is "SA"), treats every other character that is not a
   letter or a digit as a separator, drops trailing legal-form words (Inc, Ltd, LLC, GmbH, SA, SAS,
   KK, Pty, BV, ...; at least one word is always kept), and joins what is left without spaces.

The result is a comparison key, not a display name: "AdCorp, Inc.", "AdCorp.", "AdCorp GmbH",
"Ad Corp" and "AdCorp" spelt with a Cyrillic capital A (U+0410) all have the skeleton of "AdCorp".
It is idempotent.

The confusables table is read from the package's own data once, on first use; nothing else is read and
nothing is downloaded.
"""

from __future__ import annotations

import functools
import importlib.resources
import unicodedata

# Where the table came from; the file itself is unicode.org's, unchanged.
CONFUSABLES_SOURCE = "https://www.unicode.org/Public/security/13.0.0/confusables.txt"
CONFUSABLES_VERSION = "13.0.0"
CONFUSABLES_DATE = "2020-02-13"

# Legal forms dropped from the end of a name. Dotted spellings ("S.A.", "K.K.", "B.V.") reach this
# list without their dots.
# "Corp" is not one: "Ad Corp" must keep the skeleton of "AdCorp".
LEGAL_SUFFIXES = frozenset(
    {
        "inc", "incorporated", "corporation", "co", "company", "ltd", "limited", "llc", "llp", "lp",
        "plc", "gmbh", "mbh", "ag", "kg", "kgaa", "sa", "sas", "sasu", "sarl", "srl", "spa", "kk", "gk",
        "pty", "pte", "bv", "nv", "oy", "oyj", "ab", "as", "asa", "aps", "sro", "kft", "zrt", "doo",
        "ooo", "pao", "pjsc", "jsc", "bhd", "sdn", "pvt", "lda", "ltda", "sae",
    }
)  # fmt: skip

# Deleted without splitting words: "S.A." -> "SA", "O'Brien" -> "OBrien".
_DELETED = frozenset(".'`\u2018\u2019\u00b4")

MAX_FOLD_ROUNDS = 8


@functools.cache
def confusables() -> dict[str, str]:
    """The UTS #39 table: each confusable character to its prototype (one or more characters)."""
    text = importlib.resources.files("policy.data").joinpath("confusables.txt").read_text("utf-8-sig")
    table: dict[str, str] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        source, target, *_ = (field.strip() for field in line.split(";"))
        table[chr(int(source, 16))] = "".join(chr(int(cp, 16)) for cp in target.split())
    # The table is case-sensitive ("I" is confusable with "l", "i" is not listed); a block must not
    # be, so the lower-case form of a listed capital goes where the capital goes.
    for source, target in list(table.items()):
        lower = source.lower()
        if lower != source and len(lower) == 1 and lower not in table:
            table[lower] = target
    return table


def _ignorable(char: str) -> bool:
    # Format characters (Cf: ZWJ, ZWNJ, bidi marks, soft hyphen), combining marks (after NFKD these
    # are accents), variation selectors (Mn) and the Hangul/Mongolian fillers that render as nothing.
    category = unicodedata.category(char)
    return category in ("Cf", "Mn", "Me", "Cc") or char in "\u115f\u1160\u3164\uffa0\u180b\u180c\u180d\u180e"


def _fold_once(text: str, table: dict[str, str]) -> str:
    # The table lists precomposed characters too ("ö"), so it is applied to the composed form and
    # again to the decomposed one (UTS #39 section 4 applies it after NFD only).
    composed = "".join(table.get(c, c) for c in unicodedata.normalize("NFC", text))
    mapped = "".join(table.get(c, c) for c in unicodedata.normalize("NFD", composed))
    folded = unicodedata.normalize("NFKD", mapped).casefold()
    return "".join(c for c in unicodedata.normalize("NFKD", folded) if not _ignorable(c))


def fold(text: str) -> str:
    """Confusables, compatibility forms, case and accents folded to a fixed point."""
    table = confusables()
    text = "".join(c for c in text if not _ignorable(c))
    for _ in range(MAX_FOLD_ROUNDS):
        folded = _fold_once(text, table)
        if folded == text:
            return text
        text = folded
    return text


@functools.cache
def _suffixes() -> frozenset[str]:
    # The suffixes go through the same fold as names, so that they compare in the folded alphabet.
    return frozenset("".join(_words(fold(suffix))) for suffix in LEGAL_SUFFIXES)


def _words(folded: str) -> list[str]:
    words: list[str] = []
    current: list[str] = []
    for char in folded:
        if char in _DELETED:
            continue
        if char.isalnum():
            current.append(char)
        elif current:
            words.append("".join(current))
            current = []
    if current:
        words.append("".join(current))
    return words


def skeleton(name: str) -> str:
    """The comparison key of an organization's name or domain; ValueError when nothing is left."""
    words = _words(fold(name))
    suffixes = _suffixes()
    while len(words) > 1 and words[-1] in suffixes:
        words.pop()
    key = "".join(words)
    if not key:
        raise ValueError("an organization name needs at least one letter or digit")
    return key

"""Pattern detection: Presidio's pattern recognizers with the project's fixes for their false positives.

- Context words match whole words only, in a short window before the value (Presidio's default
  enhancer matches substrings: "lic" in "public").
- US_DRIVER_LICENSE, US_PASSPORT and UK_NHS need their context word: their patterns alone match
  ordinary words ("INTRODUCTORY") and any 10-digit number passing mod 11.
- Phone numbers: candidates are cut by a bounded regex and checked with python-phonenumbers
  `parse`/`is_valid_number`, never with `PhoneNumberMatcher`, which has a quadratic slow path on long
  digit runs. A candidate glued to letters (`ORD-2024-55812`) or led by reference words ("order",
  "invoice", "ticket", ...) is not a phone number.
- Email addresses are validated with tldextract pinned to its bundled suffix list: no network.
"""

from __future__ import annotations

import bisect
import os
import re
from collections.abc import Container, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from broker.redaction.normalize import folded
from broker.redaction.spans import Span

# Presidio's EmailRecognizer validates with tldextract's module-level extractor; it must never try
# to fetch the public suffix list (tldextract 5.4 reads this when it is imported).
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

import phonenumbers
import tldextract
from presidio_analyzer import Pattern, PatternRecognizer
from presidio_analyzer.predefined_recognizers import (
    AuMedicareRecognizer,
    AuTfnRecognizer,
    CaSinRecognizer,
    CreditCardRecognizer,
    DateRecognizer,
    DeTaxIdRecognizer,
    EmailRecognizer,
    EsNieRecognizer,
    EsNifRecognizer,
    FiPersonalIdentityCodeRecognizer,
    IbanRecognizer,
    InAadhaarRecognizer,
    InPanRecognizer,
    IpRecognizer,
    ItFiscalCodeRecognizer,
    KrRrnRecognizer,
    NgNinRecognizer,
    NhsRecognizer,
    PlPeselRecognizer,
    SePersonnummerRecognizer,
    SgFinRecognizer,
    ThTninRecognizer,
    TrNationalIdRecognizer,
    UkNinoRecognizer,
    UsItinRecognizer,
    UsLicenseRecognizer,
    UsPassportRecognizer,
    UsSsnRecognizer,
    ZaIdNumberRecognizer,
)

_WORDS = re.compile(r"[^\W\d_]+")
_WINDOW = 48


@cache
def _offline_tld() -> tldextract.TLDExtract:
    # No URLs and no cache directory: the bundled snapshot only, nothing fetched, nothing written.
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


class OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's email recognizer, validating the domain against the bundled suffix list."""

    def validate_result(self, pattern_text: str) -> bool:
        """True when the domain ends in a known public suffix."""
        return _offline_tld()(pattern_text.rsplit("@", 1)[-1]).fqdn != ""


# A regex that finds every place a pattern's match can start, and how many characters before
# its own match that start is: "\d(?<=[a-z]{2}\d)" finds an IBAN's first digit, two after its start.
_Seek = tuple[re.Pattern[str], int]


@dataclass(frozen=True, slots=True)
class Rule:
    """When a recognizer's finding counts: its minimum score alone, or any score with context.

    The recognizer's patterns are compiled once with the standard `re` module and run directly;
    the recognizer's own `validate_result`/`invalidate_result` (checksums, known-invalid values)
    decide each match, as in `PatternRecognizer.analyze` but without its per-match bookkeeping.

    Pre-checks only skip scans that cannot match: `keywords` (lower-case) must occur in the
    case-folded text for `gate` to be tried, and each pattern may have its own gate, a regex that
    every match of that pattern contains.
    """

    recognizer: PatternRecognizer
    entity_type: str
    min_score: float  # above this, no context needed (1.1: context always needed)
    context: frozenset[str]
    gate: re.Pattern[str]  # a text this does not match cannot hold the entity
    compiled: tuple[tuple[re.Pattern[str], float, re.Pattern[str] | None, _Seek | None], ...]
    window: int = _WINDOW
    keywords: tuple[str, ...] = ()  # the gate needs one of these in the folded text
    anchor: str = ""  # every match holds this character and no whitespace (see `_anchored`)
    shorten: bool = False  # an invalid match is retried ending at each of its groups
    keyword_gate: re.Pattern[str] | None = None  # any of `keywords`, as one regex
    # Per pattern: True when its matches always need a context word (their score stays below
    # `min_score`: the recognizer does not validate them up to 1.0); and any context word, as a
    # regex searched in the folded text, which such a pattern needs to be worth running.
    weak: tuple[bool, ...] = ()
    context_gate: re.Pattern[str] | None = None

    @classmethod
    def of(
        cls,
        recognizer: PatternRecognizer,
        entity_type: str,
        min_score: float,
        context: str,
        gate: str,
        window: int = _WINDOW,
        *,
        keywords: str = "",
        pattern_gates: Mapping[str, str] | None = None,
        pattern_starts: Mapping[str, str] | None = None,
        pattern_seeks: Mapping[str, tuple[str, int]] | None = None,
        anchor: str = "",
        shorten: bool = False,
    ) -> Rule:
        """Build a rule, compiling the recognizer's patterns (and their gates, by pattern name).

        `pattern_starts` names, per pattern, a character class every match starts with; it is put
        in front of the pattern as a lookahead, which turns other positions away cheaply.
        """
        flags = re.IGNORECASE | re.MULTILINE | re.DOTALL
        # getattr: mypy cannot infer the type of this attribute of Presidio's class.
        patterns: list[Any] = getattr(recognizer, "patterns")  # noqa: B009
        gates = dict(pattern_gates or {})
        starts = dict(pattern_starts or {})
        seeks = dict(pattern_seeks or {})
        unknown = (set(gates) | set(starts) | set(seeks)) - {p.name for p in patterns}
        if unknown:
            # A hint for a pattern that is not there (renamed upstream) would silently do nothing.
            raise ValueError(f"no such pattern in {type(recognizer).__name__}: {sorted(unknown)}")
        compiled = tuple(
            (
                re.compile(f"(?={starts[p.name]})(?:{p.regex})" if p.name in starts else p.regex, flags),
                p.score,
                re.compile(gates[p.name], flags) if p.name in gates else None,
                (re.compile(seeks[p.name][0], flags), seeks[p.name][1]) if p.name in seeks else None,
            )
            for p in patterns
        )
        validates = type(recognizer).validate_result is not PatternRecognizer.validate_result
        words = sorted(set(context.split()))
        weak = tuple(not validates and p.score < min_score for p in patterns)
        return cls(
            recognizer,
            entity_type,
            min_score,
            frozenset(words),
            re.compile(gate),
            compiled,
            window,
            tuple(keywords.split()),
            anchor,
            shorten,
            re.compile("|".join(re.escape(k) for k in keywords.split())) if keywords.split() else None,
            weak,
            # Only rules with a weak pattern use it (compiling it for the others costs start-up).
            re.compile("|".join(re.escape(w) for w in words)) if words and any(weak) else None,
        )

    def _score(self, value: str, base: float) -> float:
        valid = self.recognizer.validate_result(value)
        score = base if valid is None else (1.0 if valid else 0.0)
        return 0.0 if score <= 0 or self.recognizer.invalidate_result(value) else score

    def admits(self, text: str, lowered: str, words: frozenset[str] = frozenset()) -> bool:
        """False when no pattern of this rule can match `text` (`lowered` is `folded(text)`).

        `words` are the whole words of `lowered`; a rule that always needs context checks them
        instead of its keywords: its context words match whole words only.
        """
        if self.min_score > 1.0 and not self.keywords:
            if self.context.isdisjoint(words):
                return False
        elif self.keyword_gate is not None and self.keyword_gate.search(lowered) is None:
            return False
        return self.gate.search(text) is not None

    def find(self, text: str, bounds: list[tuple[int, int]], lowered: str | None = None) -> list[Span]:
        """Accepted matches of this rule in text (`lowered`, when given, is `folded(text)`)."""
        found: dict[tuple[int, int], float] = {}
        # A context word lies in the text before a match, so a text that holds none anywhere
        # (as a substring of its folded form) gives no weak pattern's match a chance.
        no_context = (
            lowered is not None
            and any(self.weak)
            and (self.context_gate is None or self.context_gate.search(lowered) is None)
        )
        for index, (pattern, base, gate, seek) in enumerate(self.compiled):
            if no_context and self.weak[index]:
                continue
            if gate is not None and gate.search(text) is None:
                continue
            if seek is not None:
                matches = _sought(pattern, text, seek)
            elif self.anchor:
                matches = _anchored(pattern, text, self.anchor)
            else:
                matches = pattern.finditer(text)
            for match in matches:
                start, end = match.span()
                if start == end or found.get((start, end), -1.0) >= base:
                    continue
                score = self._score(text[start:end], base)
                if score <= 0 and self.shorten:
                    # The last groups may have taken a word after the value ("... 32 is closed"):
                    # try the match ending at each earlier group, as Presidio's IBAN analyze does.
                    for group in reversed(range(1, (match.lastindex or 0) + 1)):
                        shorter = match.end(group)
                        if start < shorter < end:
                            score = self._score(text[start:shorter], base)
                            if score > 0:
                                end = shorter
                                break
                if score <= 0:
                    continue
                found[(start, end)] = score
        spans = []
        for (start, end), score in found.items():
            if score < self.min_score and not _has_context(
                text, start, _floor(bounds, start), self.context, self.window
            ):
                continue
            spans.append(Span(start, end, self.entity_type, max(score, 0.5)))
        return spans


_SPACE = re.compile(r"\s")


def _anchored(pattern: re.Pattern[str], text: str, anchor: str) -> Iterator[re.Match[str]]:
    """`pattern.finditer(text)` for a pattern whose matches hold `anchor` and no whitespace.

    Such a match lies inside one whitespace-delimited run holding an `anchor`, so only those runs
    are scanned. `pos` keeps the characters before a run visible to lookbehinds and `\\b`; the
    run's end is whitespace, which `\\b` and lookaheads treat as they treat the end of `endpos`.
    """
    done = 0
    while (at := text.find(anchor, done)) != -1:
        space = _SPACE.search(text, at)
        end = space.start() if space else len(text)
        start = max(done, text.rfind(" ", 0, at) + 1, text.rfind("\n", 0, at) + 1)
        yield from pattern.finditer(text, start, end)
        done = end


def _sought(pattern: re.Pattern[str], text: str, seek: _Seek) -> Iterator[re.Match[str]]:
    """`pattern.finditer(text)`, trying `pattern` only where `seek` says a match can start.

    Python's `re` tries a pattern at every position; a seek regex that begins with a rare
    character class (a digit) turns most positions away at one test. Matches are taken left to
    right and never overlap, as `finditer` takes them; `match` at `pos` still sees the text before
    it (lookbehinds, `\b`).
    """
    finder, back = seek
    done = 0
    for hint in finder.finditer(text):
        start = hint.start() - back
        if start < done:
            continue
        match = pattern.match(text, start)
        if match is not None and match.end() > match.start():
            yield match
            done = match.end()


_DIGITS_12 = r"(?:\d\D{0,2}){12}"
_DIGITS_9 = r"(?:\d\D{0,2}){8}\d"


# Card numbers are also written with dots ("4111.1111.1111.1111"); Presidio's pattern allows "-" and " ".
# Its prefixes also leave out Mastercard's 2-series (2221-2720, issued since 2017); the Luhn check
# that follows keeps other numbers starting 22-27 out.
_CARD = (
    r"\b(?!1\d{12}(?!\d))((4\d{3})|(5[0-5]\d{2})|(2[2-7]\d{2})|(6\d{3})|(1\d{3})|(3\d{3}))"
    r"[-. ]?(\d{3,4})[-. ]?(\d{3,4})[-. ]?(\d{3,5})\b"
)
# Words that say a number identifies a person, in the languages of the national recognizers.
_ID_CONTEXT = (
    "id identification identity ident national personal citizen document kimlik tc tckn pesel "
    "personnummer hetu henkilötunnus steuer steuerid steueridentifikationsnummer aadhaar uidai tfn tax "
    "medicare nin nimc sin insurance itin taxpayer rrn tnin dni nif nie nino"
)
# National identifiers: (recognizer, context needed). Those whose pattern is distinctive and whose
# checksum or shape is checked stand alone; bare digit runs need a context word, since an order
# or invoice number passes a mod-10 or mod-11 check one time in ten.

# Per recognizer: a regex that every match of its patterns contains (a cheap pre-check).
_NATIONAL_GATES = {
    "UK_NINO": r"[A-Za-z]{2} ?\d{2} ?\d{2} ?\d{2}",
    "ES_NIF": r"\d{7}-?[A-Za-z]\b",
    "ES_NIE": r"\d{7}-?[A-Za-z]\b",
    "IT_FISCAL_CODE": r"\d\d[A-Za-z]\d\d[A-Za-z]",
    "FI_PERSONAL_IDENTITY_CODE": r"\d{6}[-+A-Ya-y]\d{3}",
    "IN_PAN": r"[A-Za-z]{5}\d{4}[A-Za-z]",
    "SG_NRIC_FIN": r"[A-Za-z]\d{7}[A-Za-z]",
    "KR_RRN": r"\d{6}-?[1-4]\d{6}",
}


def _national() -> list[Rule]:
    rules = []
    distinctive: list[PatternRecognizer] = [
        UkNinoRecognizer(),
        EsNifRecognizer(),
        EsNieRecognizer(),
        ItFiscalCodeRecognizer(),
        FiPersonalIdentityCodeRecognizer(),
        InPanRecognizer(),
        SgFinRecognizer(),
        KrRrnRecognizer(),
    ]
    digits_only: list[PatternRecognizer] = [
        PlPeselRecognizer(),
        SePersonnummerRecognizer(),
        TrNationalIdRecognizer(),
        DeTaxIdRecognizer(),
        InAadhaarRecognizer(),
        AuTfnRecognizer(),
        AuMedicareRecognizer(),
        NgNinRecognizer(),
        ZaIdNumberRecognizer(),
        ThTninRecognizer(),
        CaSinRecognizer(),
        UsItinRecognizer(),
    ]
    for recognizer in distinctive:
        entity = recognizer.supported_entities[0]
        context = " ".join(w.lower() for c in recognizer.context or [] for w in c.split())
        # The weakest patterns (PAN "Low", any 10 word characters) are dropped: too broad alone.
        patterns: list[Any] = getattr(recognizer, "patterns")  # noqa: B009  (untyped in Presidio)
        setattr(recognizer, "patterns", [p for p in patterns if p.score >= 0.3])  # noqa: B010
        rules.append(Rule.of(recognizer, entity, 0.3, f"{context} {_ID_CONTEXT}", _NATIONAL_GATES[entity]))
    for recognizer in digits_only:
        entity = recognizer.supported_entities[0]
        words = {w.lower() for c in recognizer.context or [] for w in _WORDS.findall(c)} | set(
            _ID_CONTEXT.split()
        )
        context = " ".join(sorted(words))
        # Context is required, so a text without any context word cannot hold a finding.
        rules.append(Rule.of(recognizer, entity, 1.1, context, r"\d{6}"))
    return rules


def default_rules() -> list[Rule]:
    """The built-in pattern rules."""
    return [
        Rule.of(OfflineEmailRecognizer(), "EMAIL_ADDRESS", 0.5, "", "@", anchor="@"),
        *_national(),
        Rule.of(
            CreditCardRecognizer(
                patterns=[Pattern("All Credit Cards (weak)", _CARD, 0.3)],
                replacement_pairs=[("-", ""), (" ", ""), (".", "")],
            ),
            "CREDIT_CARD",
            0.5,
            "card visa mastercard amex",
            _DIGITS_12,
            pattern_starts={"All Credit Cards (weak)": "[0-9]"},
        ),
        Rule.of(
            IbanRecognizer(),
            "IBAN_CODE",
            0.5,
            "iban account",
            r"(?i:[a-z]{2}\s?\d{2})",
            # Every IBAN starts with two letters and two digits: seek its first digit.
            pattern_seeks={"IBAN Generic": (r"[0-9](?<=[a-z]{2}[0-9])[0-9]", 2)},
            shorten=True,
        ),
        Rule.of(
            IpRecognizer(),
            "IP_ADDRESS",
            0.5,
            "ip",
            r"\d\.\d|:[0-9a-fA-F]*:",
            # Dotted quads need three dots between digits; every IPv6 form has two colons with
            # at most four hex digits between them ("::" or "x:y:").
            pattern_gates={
                "IPv4": r"\.\d{1,3}\.\d{1,3}\.\d",
                "IPv4_mapped": "::",
                "IPv4_embedded": ":[0-9A-Fa-f]*:",
                "IPv6": ":[0-9A-Fa-f]*:",
                "IPv6_unspecified": "::",
            },
        ),
        Rule.of(
            UsSsnRecognizer(),
            "US_SSN",
            0.5,
            "ssn ssns social security",
            _DIGITS_9,
            # The hyphenated forms, found from their hyphen (a literal: a fast scan).
            pattern_gates={
                "SSN1 (very weak)": r"-(?<=[0-9]{5}-)[0-9]{4}\b",
                "SSN2 (very weak)": r"-(?<=[0-9]{3}-)[0-9]{6}\b",
                "SSN3 (very weak)": r"-(?<=[0-9]{3}-)[0-9]{2}-[0-9]{4}\b",
            },
            pattern_starts={"SSN4 (very weak)": "[0-9]", "SSN5 (medium)": "[0-9]"},
        ),
        Rule.of(
            UsPassportRecognizer(), "US_PASSPORT", 1.1, "passport", r"(?i:passport)", keywords="passport"
        ),
        Rule.of(
            UsLicenseRecognizer(),
            "US_DRIVER_LICENSE",
            1.1,
            "driver drivers driving license licence dl",
            r"(?i:licen[cs]e|driv|\bdl\b)",
            keywords="licen driv dl",
        ),
        Rule.of(
            NhsRecognizer(),
            "UK_NHS",
            1.1,
            "nhs",
            r"(?i:nhs)",
            keywords="nhs",
            pattern_starts={"NHS (medium)": "[0-9]"},
        ),
        Rule.of(
            DateRecognizer(),
            "DATE_OF_BIRTH",
            1.1,
            "born birth birthday dob birthdate né née geboren",
            r"(?i:born|birth|dob|né|geboren)",
            window=24,
            keywords="born birth dob né geboren",
        ),
    ]


def _has_context(text: str, start: int, floor: int, words: frozenset[str], window: int = _WINDOW) -> bool:
    before = text[max(floor, start - window) : start].lower()
    return any(word in words for word in _WORDS.findall(before))


def run_rules(
    rules: Iterable[Rule], text: str, bounds: list[tuple[int, int]], known: Container[str] = ()
) -> list[Span]:
    """All accepted pattern findings in `text`; `bounds` are the leaf texts it was joined from.

    `known` holds values of this payload already known to be sensitive, lower-cased.
    """
    found: list[Span] = []
    lowered = folded(text)
    words = frozenset(_WORDS.findall(lowered))
    for rule in rules:
        if rule.admits(text, lowered, words):
            found.extend(rule.find(text, bounds, lowered))
    if _SEVEN_DIGITS.search(text):
        # A number another rule already took (IP, card, IBAN, identifier) is not parsed again.
        taken = [(span.start, span.end) for span in found]
        found.extend(find_phones(text, bounds, known, taken))
    return found


_SEVEN_DIGITS = re.compile(r"(?:\d\D{0,3}){6}\d")


def _floor(bounds: list[tuple[int, int]], position: int) -> int:
    low, high = 0, len(bounds) - 1
    while low <= high:
        middle = (low + high) // 2
        start, end = bounds[middle]
        if position < start:
            high = middle - 1
        elif position > end:
            low = middle + 1
        else:
            return start
    return 0


# A run of 7 to 15 digits with phone separators, and an extension; bounded, so matching is linear.
# Also the German-speaking form with a slash after a trunk-prefixed area code ("0664/1234567",
# "030 / 1234 5678"); one slash only after a leading 0, so "2019/2020" and "INV/2024/1234" are not.
_PHONE = re.compile(
    r"(?<![\w+\-/.#])(?:(?:\+|00)?\(?\d[\d \-.()]{5,20}\d|0\d{1,5} ?/ ?\d[\d \-.]{2,14}\d)"
    r"(?:\s?(?:x|ext\.?)\s?\d{1,5})?(?![\w\-/])"
)
_DATE_SHAPED = re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}|\d+\.\d{1,2}")
_EXTENSION = re.compile(r"\s?(?:x|ext\.?)\s?\d{1,5}$")
_REFERENCE = frozenset(
    [
        "order",
        "orders",
        "invoice",
        "inv",
        "ref",
        "reference",
        "tracking",
        "ticket",
        "sku",
        "po",
        "case",
        "booking",
        "confirmation",
        "transaction",
        "txn",
        "receipt",
        "serial",
        "part",
        "item",
        "model",
        "id",
        "no",
        "nr",
        "account",
        "acct",
        "batch",
        "lot",
        "policy",
        "claim",
        "shipment",
        "parcel",
        "isbn",
        "ean",
        "upc",
        "gtin",
        "vat",
        "tax",
        "amount",
        "total",
        "price",
        "qty",
    ]
)
_PHONE_CONTEXT = frozenset(
    [
        "phone",
        "telephone",
        "tel",
        "mobile",
        "cell",
        "call",
        "fax",
        "whatsapp",
        "text",
        "sms",
        "ring",
        "contact",
        "cellphone",
        "landline",
        "hotline",
        "dial",
        "whatsapp",
        "signal",
        "telegram",
        "viber",
        "telefon",
        "telefono",
        "teléfono",
        "téléphone",
        "tél",
        "handy",
        "mobil",
        "portable",
        "celular",
        "nummer",
        "numero",
        "número",
    ]
)
# Words that make a bare digit run a phone number only when no reference word is near.
_WEAK_PHONE_CONTEXT = frozenset(["number", "reach", "reached", "at", "on", "via", "new"])
# Bare national numbers are tried against these numbering plans.
_REGIONS = (
    "US",
    "GB",
    "FR",
    "DE",
    "IN",
    "ES",
    "IT",
    "NL",
    "BR",
    "AU",
    "TR",
    "JP",
    "KR",
    "CN",
    "MX",
    "ZA",
    "NG",
    "PL",
    "SE",
    "CA",
    "IE",
    "PT",
    "BE",
    "CH",
    "AT",
    "RU",
    "AR",
    "EG",
    "SA",
    "AE",
    "PK",
    "ID",
    "PH",
)


def find_phones(
    text: str,
    bounds: list[tuple[int, int]],
    known: Container[str] = (),
    taken: list[tuple[int, int]] | None = None,
) -> list[Span]:
    """Phone numbers: bounded candidates checked with python-phonenumbers.

    A phone-shaped candidate that is a value already known to be sensitive in this payload (from
    its field) is taken without the numbering-plan check: it is redacted wherever it recurs anyway.
    """
    spans = []
    inside = _Cover(taken) if taken else None
    for match in _PHONE.finditer(text):
        if inside is not None and inside.covers(*match.span()):
            continue
        candidate = _EXTENSION.sub("", match.group())
        digits = sum(c.isdigit() for c in candidate)
        if not 7 <= digits <= 15 or _DATE_SHAPED.fullmatch(candidate.strip()):
            continue
        floor = _floor(bounds, match.start())
        window = _WORDS.findall(text[max(floor, match.start() - _WINDOW) : match.start()].lower())
        context = any(w in _PHONE_CONTEXT for w in window[-4:])
        reference = any(w in _REFERENCE for w in window[-3:])
        if not context and window and window[-1] in _REFERENCE:
            continue
        weak = not reference and any(w in _WEAK_PHONE_CONTEXT for w in window[-3:])
        international = candidate.startswith(("+", "00"))
        grouped = any(not c.isdigit() for c in candidate.strip("()+"))
        if not (international or grouped or context or weak):
            continue  # a bare digit run with nothing phone-like about it
        if "/" in candidate and not (context or weak):
            continue  # "0412/2026" alone may be anything; "Tel. 0664/1234567" is a number
        if match.group().lower() in known or _possible_phone(
            candidate, strict=not (context or international)
        ):
            spans.append(Span(match.start(), match.end(), "PHONE_NUMBER", 0.7 if context else 0.5))
    return spans


class _Cover:
    """Spans sorted by start, with the furthest end among each prefix: "does one of them contain
    [start, end)" in a binary search rather than a pass over all of them."""

    __slots__ = ("ends", "starts")

    def __init__(self, spans: list[tuple[int, int]]) -> None:
        ordered = sorted(spans)
        self.starts = [a for a, _ in ordered]
        self.ends: list[int] = []
        furthest = -1
        for _, b in ordered:
            furthest = max(furthest, b)
            self.ends.append(furthest)

    def covers(self, start: int, end: int) -> bool:
        """True when some span [a, b) has a <= start and end <= b."""
        index = bisect.bisect_right(self.starts, start) - 1
        return index >= 0 and self.ends[index] >= end


def _possible_phone(candidate: str, *, strict: bool) -> bool:
    # Fail closed: a grouped, phone-shaped number of a possible length counts even when no numbering
    # plan knows it (fictional 555 numbers, new ranges); a bare one must be valid somewhere.
    international = candidate.startswith(("+", "00"))
    text = "+" + candidate[2:] if candidate.startswith("00") else candidate
    regions: tuple[str | None, ...] = (None,) if international else _REGIONS
    for region in regions:
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            continue
        if (
            phonenumbers.is_valid_number(number)
            or (not strict and phonenumbers.is_possible_number(number))
            or (
                candidate.count("-") + candidate.count(".") + candidate.count(" ") >= 2
                and phonenumbers.is_possible_number(number)
            )
        ):
            return True
    return False

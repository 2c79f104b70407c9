"""Offline person and place detection for when no spaCy NER model is installed.

Name and place data come from packages with a clear provenance, read once per process:
person first and last names from Faker's per-locale providers (MIT; about 31,000 first and 28,000
last names from some 80 locales), city names from Faker's address providers and subdivision names
from pycountry (ISO 3166-2). Common words come from spaCy's English stop-word list plus a short list
of capitalized words that are also given names (`May`, `Will`, `Grace`).
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache

from broker.redaction.normalize import folded
from broker.redaction.spans import Span

# Capitalized words that are common in business text and also appear in name lists.
_COMMON = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "if",
        "of",
        "in",
        "on",
        "at",
        "to",
        "for",
        "from",
        "by",
        "with",
        "about",
        "as",
        "into",
        "over",
        "after",
        "before",
        "under",
        "dear",
        "hi",
        "hello",
        "hey",
        "thanks",
        "thank",
        "regards",
        "best",
        "kind",
        "sincerely",
        "cheers",
        "please",
        "note",
        "notes",
        "re",
        "fwd",
        "cc",
        "mr",
        "mrs",
        "ms",
        "miss",
        "dr",
        "prof",
        "sir",
        "madam",
        "mme",
        "mlle",
        "herr",
        "frau",
        "sr",
        "sra",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "today",
        "tomorrow",
        "yesterday",
        "will",
        "can",
        "may",
        "might",
        "must",
        "shall",
        "should",
        "would",
        "could",
        "mark",
        "bill",
        "grace",
        "hope",
        "joy",
        "faith",
        "art",
        "rose",
        "summer",
        "autumn",
        "winter",
        "spring",
        "sunny",
        "star",
        "page",
        "chase",
        "ray",
        "dawn",
        "gay",
        "guy",
        "pat",
        "sue",
        "lane",
        "dale",
        "dean",
        "drew",
        "customer",
        "client",
        "order",
        "orders",
        "invoice",
        "ticket",
        "case",
        "ref",
        "reference",
        "item",
        "items",
        "product",
        "products",
        "total",
        "amount",
        "price",
        "payment",
        "paid",
        "status",
        "shipped",
        "delivered",
        "pending",
        "cancelled",
        "refund",
        "refunded",
        "returned",
        "account",
        "support",
        "team",
        "service",
        "services",
        "sales",
        "billing",
        "shipping",
        "delivery",
        "warehouse",
        "office",
        "store",
        "shop",
        "company",
        "inc",
        "ltd",
        "llc",
        "gmbh",
        "corp",
        "co",
        "sa",
        "ag",
        "plc",
        "group",
        "holdings",
        "international",
        "global",
        "new",
        "old",
        "big",
        "small",
        "pro",
        "plus",
        "max",
        "mini",
        "ultra",
        "lite",
        "premium",
        "standard",
        "basic",
        "gold",
        "silver",
        "bronze",
        "north",
        "south",
        "east",
        "west",
        "street",
        "road",
        "avenue",
        "city",
        "town",
        "park",
        "hill",
        "lake",
        "river",
        "bay",
        "usd",
        "eur",
        "gbp",
        "jpy",
        "chf",
        "cad",
        "aud",
        "sku",
        "id",
        "no",
        "nr",
        "qty",
        "unit",
        "units",
    ]
)
COMMON_WORDS = _COMMON
_HONORIFIC = (
    r"(?:Mr|Mrs|Ms|Mx|Miss|Dr|Prof|Sir|Dame|Madam|Mme|Mlle|Herr|Frau|Sr|Sra|Srta|Sig|Sig\.ra|Dott)\.?"
)
_CUE = r"(?:Dear|Hi|Hello|Hey|Thanks|Attn|Attention|Signed|Sincerely|Regards|Cheers)[,:]?"
_VERB_CUE = (
    r"(?:spoke|talked|met|called|emailed|phoned|contacted|visited|signed|handled|approved|"
    r"assigned|escalated|referred|reported|requested|confirmed)(?:\s+(?:to|with|by|for))?"
)
_NAME_WORD = r"[^\W\d_][\w'\u2019\-]*"
_CUED_PATTERN = (
    rf"\b(?:(?i:{_CUE}|{_VERB_CUE})\s+(?:{_HONORIFIC}\s+)?|{_HONORIFIC}\s+)"
    rf"(?P<name>{_NAME_WORD}(?:\s+{_NAME_WORD}){{0,2}})"
)
# The first letters of the cues, verbs and honorifics: a match starts with one of them, so the
# lookahead turns other positions away before some fifty alternatives are tried (same matches).
_CUE_INITIALS = "acdefhmprstv"
_CUED = re.compile(rf"(?=(?i:[{_CUE_INITIALS}])){_CUED_PATTERN}")
# Every cue match holds one of these words (lower case); "to", "with", "by", "for" and the "ra" of
# "Sig.ra" only ever follow another of them. Text without any is not scanned for cues.
_CUE_WORDS = tuple(
    sorted(
        {w.lower() for w in re.findall(r"[A-Za-z]+", _CUE + _VERB_CUE + _HONORIFIC)}
        - {"to", "with", "by", "for", "ra", "s", "i"}
    )
)
_CUE_GATE = re.compile("|".join(re.escape(word) for word in _CUE_WORDS))
_TOKEN = re.compile(r"[^\W\d_][\w'\u2019\-]*")
_STREET_SUFFIX = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Way|Court|Ct|Place|Pl|Square|Sq|"
    r"Terrace|Parkway|Pkwy|Highway|Hwy|Circle|Cir|Trail|Close|Crescent|Gardens|Row|Mews|Walk)\.?"
)
# Suffixes that are also ordinary words ("Green", "Park", "View"): a street only after a number
# and at least one capitalized word ("1013 Fanning Green").
_WEAK_SUFFIX = (
    r"(?:Alley|Approach|Bayou|Beach|Bend|Bluff|Bottom|Branch|Bridge|Broadway|Brook|Burg|Bypass|Camp|Canyon|"
    r"Cape|Causeway|Center|Centre|Chase|Cliff|Common|Corner|Course|Cove|Creek|Crossing|Crossroad|Curve|"
    r"Dale|Dam|Divide|Esplanade|Estates?|Expressway|Extension|Falls|Ferry|Fields?|Flats?|Ford|Forest|Forge|"
    r"Fork|Fort|Freeway|Gardens?|Gate|Gateway|Glen|Grange|Green|Grove|Harbou?r|Haven|Heath|Heights|Hills?|"
    r"Hollow|Inlet|Island|Isle|Junction|Key|Knoll|Lakes?|Landing|Light|Loaf|Lock|Lodge|Loop|Mall|Manor|"
    r"Meadows?|Mill|Mission|Motorway|Mount|Mountain|Neck|Orchard|Oval|Overpass|Parade|Park|Pass|Passage|"
    r"Path|Pike|Pines?|Plains?|Plaza|Point|Port|Prairie|Promenade|Quay|Ranch|Rapids?|Rest|Ridge|Rise|River|"
    r"Route|Run|Shoals?|Shores?|Skyway|Springs?|Spur|Station|Stravenue|Stream|Summit|Throughway|Trace|Track|"
    r"Trafficway|Tunnel|Turnpike|Union|Vale|Valley|Viaduct|View|Village|Ville|Vista|Wall|Wells?|Wharf|Wynd|"
    r"Yards?)"
)
_UNIT = (
    r"(?:Flat|Apt|Apartment|Suite|Ste|Unit|Studio|Floor|Room|Rm|Office|Building|Bldg|Lot|#)\.?\s*[\w\-]{1,6}"
)
_STREET_PREFIX = (
    r"(?:rue|avenue|av|boulevard|bd|chemin|allée|allee|place|impasse|quai|cours|via|viale|piazza|"
    r"corso|calle|avenida|av\.|rua|plaza|paseo|carrer|praça|travessa|ulica|ul\.)"
)
_PREFIX_FIRST = (
    r"(?:ул\.|улица|вул\.|вулиця|пр\.|просп\.|пер\.|Calle|C/|Rúa|Rua|Avenida|Avda\.|Via|Viale|Piazza|Corso|"
    r"Rue|Carrer|Praça|Travessa|Alameda|Estrada|Rodovia|Largo|Ulica|ul\.|al\.|Aleja|os\.|Osiedle|pl\.|"
    r"Odos|Οδός|Sokak|Sok\.|Caddesi|Cad\.)"
)
_NUMBER_FIRST_FORMS = (
    # 221B Baker Street, 1600 Pennsylvania Ave NW
    rf"(?:\b{_UNIT},?\s+)?\b\d{{1,5}}[A-Za-z]?,?\s+(?:[^\W\d_][\w'\u2019.\-]*\s+){{0,4}}?{_STREET_SUFFIX}(?!\w)"
    rf"(?:\s+(?:NE|NW|SE|SW|N|S|E|W)(?!\w))?(?:,?\s+{_UNIT})?"
    # 1013 Fanning Green, Flat 3, 12 Mill Lane
    rf"|(?:\b{_UNIT},?\s+)?\b\d{{1,5}}[A-Za-z]?,?\s+(?:(?-i:[A-Z])[\w'\u2019.\-]*\s+){{1,3}}"
    rf"(?-i:{_WEAK_SUFFIX})(?!\w)(?:,?\s+{_UNIT})?"
    # 12 rue de Rivoli, 5 Via Roma
    rf"|\b\d{{1,5}}[a-z]?,?\s+{_STREET_PREFIX}\s+[^,;\n.]{{1,48}}"
)
# ul. Parkovaya 12, Calle Mayor, 5
_PREFIX_FIRST_FORM = (
    rf"\b(?-i:{_PREFIX_FIRST})\s+[^\d,;\n]{{1,40}}?,?\s*\d{{1,5}}[a-zA-Z]?(?:-[^\W\d_]{{1,3}})?\b"
    # Streets named by a number: Rua 21, 1272; Calle 5 12
    rf"|\b(?-i:{_PREFIX_FIRST})\s+\d{{1,4}},?\s+\d{{1,5}}[a-zA-Z]?\b"
)
_NUMBER_FIRST = f"{_NUMBER_FIRST_FORMS}|{_PREFIX_FIRST_FORM}"
_WORD_SUFFIXES = (
    "straße",
    "strasse",
    r"str\.",
    "weg",
    "gasse",
    "platz",
    "allee",
    "damm",
    "ring",
    "straat",
    "gracht",
    "laan",
    "plein",
    "vej",
    "gatan",
    "gata",
    "veien",
)
# Hauptstraße 5, Kalverstraat 12
_WORD_NUMBER = rf"\b[^\W\d_][\w'\u2019\-]*(?:{'|'.join(_WORD_SUFFIXES)})\s+\d{{1,4}}[a-z]?\b"
# UK postcodes, US "City, ST 12345"
_POSTCODE = r"\b[A-Z]{1,2}\d[A-Z\d]?\s+\d[A-Z]{2}\b"
_CITY_STATE = r"\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+)*,\s+[A-Z]{2}\s+\d{5}(?:-\d{4})?\b"
_STREETS = re.compile("|".join([_NUMBER_FIRST, _WORD_NUMBER, _POSTCODE, _CITY_STATE]), re.IGNORECASE)
# Pre-checks for the two costliest alternatives, each a part of every match it admits: a word
# ending in a suffix contains one of these (case-folded), and a "City, ST 12345" contains this.
_WORD_SUFFIX_KEYWORDS = (
    "str",
    "weg",
    "gasse",
    "platz",
    "allee",
    "damm",
    "ring",
    "gracht",
    "laan",
    "plein",
    "vej",
    "gat",
    "veien",
)
_WORD_SUFFIX_GATE = re.compile("|".join(_WORD_SUFFIX_KEYWORDS))
_CITY_STATE_GATE = re.compile(r",\s+[A-Z]{2}\s+\d{5}", re.IGNORECASE)
_DIGIT = re.compile(r"\d")  # every alternative has one


# Pre-checks for the other alternatives, each a part of every match it admits: a house number
# form has a number, an optional letter and comma, whitespace and a letter ("12 rue", "221B Baker");
# a prefix-first form its prefix word; a postcode a digit, an optional letter or digit, whitespace
# and a digit ("SW1A 1AA").
_NUMBER_WORD_GATE = re.compile(r"\d[^\W\d_]?,?\s+[^\W\d_]")
_PREFIX_FIRST_GATE = re.compile(rf"(?-i:{_PREFIX_FIRST})\s", re.IGNORECASE)
_POSTCODE_GATE = re.compile(r"\d[^\W_]?\s+\d")
# A house number form starts with its number or a unit word: a lookahead for their first characters
# turns other positions away before the unit words are tried (same matches).
_UNIT_INITIALS = "fasurobl#"
_NUMBER_FIRST_START = rf"(?=[\d{_UNIT_INITIALS}])"


@cache
def _streets(
    word_number: bool,
    city_state: bool,
    number_word: bool = True,
    prefix_first: bool = True,
    postcode: bool = True,
) -> re.Pattern[str] | None:
    """`_STREETS` less the alternatives a pre-check ruled out; the rest keep their order."""
    parts = [
        *([_NUMBER_FIRST_START + _NUMBER_FIRST_FORMS] if number_word else []),
        *([_PREFIX_FIRST_FORM] if prefix_first else []),
        *([_WORD_NUMBER] if word_number else []),
        *([_POSTCODE] if postcode else []),
        *([_CITY_STATE] if city_state else []),
    ]
    return re.compile("|".join(parts), re.IGNORECASE) if parts else None


def find_streets(text: str) -> Iterator[re.Match[str]]:
    """Matches of `_STREETS` in text, scanning only with the alternatives that can match."""
    if _DIGIT.search(text) is None:
        return iter(())
    lowered = folded(text)
    pattern = _streets(
        _WORD_SUFFIX_GATE.search(lowered) is not None,
        _CITY_STATE_GATE.search(text) is not None,
        _NUMBER_WORD_GATE.search(text) is not None,
        _PREFIX_FIRST_GATE.search(text) is not None,
        _POSTCODE_GATE.search(text) is not None,
    )
    return iter(()) if pattern is None else pattern.finditer(text)


@dataclass(frozen=True, slots=True)
class NameData:
    """Name and place sets, built once per process."""

    first: frozenset[str]
    last: frozenset[str]
    places: frozenset[str]
    common: frozenset[str]
    vocabulary: frozenset[str] = frozenset()  # frequent words of common languages, lower case


def _provider_lists(package: str, attributes: Iterable[str]) -> Iterator[str]:
    module = importlib.import_module(package)
    for info in pkgutil.iter_modules(module.__path__):
        provider = getattr(importlib.import_module(f"{package}.{info.name}"), "Provider", None)
        for attribute in attributes:
            value = getattr(provider, attribute, None)
            if isinstance(value, (dict, list | tuple)):
                yield from (str(v) for v in value)


@cache
def name_data() -> NameData:
    """Load the name and place lists (about 0.3 s, once per process)."""
    import pycountry
    from spacy.lang.en.stop_words import STOP_WORDS

    common = frozenset(_COMMON | {w.lower() for w in STOP_WORDS})
    first = frozenset(
        n
        for n in _provider_lists(
            "faker.providers.person",
            ("first_names", "first_names_male", "first_names_female", "first_names_nonbinary"),
        )
        if n.lower() not in common
    )
    last = frozenset(
        n for n in _provider_lists("faker.providers.person", ("last_names",)) if n.lower() not in common
    )
    places = set(_provider_lists("faker.providers.address", ("cities", "city_names")))
    places.update(s.name for s in pycountry.subdivisions)
    return NameData(
        first=first,
        last=last,
        places=frozenset(p for p in places if p.lower() not in common and len(p) > 2),
        common=common,
        vocabulary=_vocabulary(),
    )


# The most frequent words of these languages (wordfreq's bundled lists): a capitalized run of
# words that are all ordinary words is a product, a team or a heading; one that is not may be a name.
_VOCABULARY = {"en": 30000, "de": 15000, "fr": 15000, "es": 15000, "it": 15000, "nl": 15000, "pt": 15000}


def _vocabulary() -> frozenset[str]:
    import gzip
    import importlib.util
    from pathlib import Path

    import msgpack  # type: ignore[import-untyped]

    # The data files only: importing wordfreq itself would load its tokenizers (ftfy, regex).
    spec = importlib.util.find_spec("wordfreq")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("wordfreq is not installed")
    data = Path(next(iter(spec.submodule_search_locations))) / "data"
    words: set[str] = set()
    for language, size in _VOCABULARY.items():
        packed = (data / f"small_{language}.msgpack.gz").read_bytes()
        buckets = msgpack.loads(gzip.decompress(packed), raw=False)[1:]  # [0] is the format header
        taken = 0
        for bucket in buckets:
            if taken >= size:
                break
            words.update(bucket)
            taken += len(bucket)
    return frozenset(w for w in words if w.isalpha())


def _titled(word: str) -> str:
    return word.title() if word.isupper() and len(word) > 1 else word


def find_people_and_places(text: str, data: NameData, *, names: bool = True) -> list[Span]:
    """Person names and places in free text, from cues, the name lists and street patterns."""
    spans: list[Span] = []
    for match in find_streets(text):
        spans.append(Span(match.start(), match.end(), "LOCATION", 0.7))
    if not names:
        return spans
    lowered = folded(text)
    cued = _CUED.finditer(text) if _CUE_GATE.search(lowered) is not None else ()
    for match in cued:
        start = match.start("name")
        words = list(_TOKEN.finditer(match.group("name")))
        kept = []
        for word in words:
            if not word.group()[0].isupper() or word.group().lower() in data.common:
                break
            kept.append(word)
        if kept:
            spans.append(Span(start + kept[0].start(), start + kept[-1].end(), "PERSON", 0.8))
    spans.extend(_gazetteer_runs(text, data))
    spans.extend(_initialled(text, data))
    spans.extend(_house_numbers(text, data))
    if not text.isascii():
        spans.extend(caseless_runs(text))
    return _places_beside_addresses(text, _inverted(text, spans, data))


# A street in any language, by its shape rather than its street-type word: a name no vocabulary
# holds, next to a house number, closing a line or a comma-separated part ("Spetsvägen 843,",
# "338 Rytterhegnet\n", "Ακαδημίας 492, Αθήνα"). "Room 12," or "Windows 11," are ordinary words.
# The house number may follow another number ("Rua 21 1272": a street named by a number).
_NAME_THEN_NUMBER = re.compile(
    r"(?<![\w'\u2019.\-])(?P<name>(?:[^\W\d_][\w'\u2019.\-]*\s+){0,2}[^\W\d_][\w'\u2019\-]*)"
    r"\s+\d{1,5}(?:[a-zA-Z]|[-/]\d{1,4}){0,3}(?:\s+\d{1,5}[a-zA-Z]?)?(?=\s*(?:[,;\n]|$))"
)
_NUMBER_THEN_NAME = re.compile(
    r"(?<![\w.,/:\-])\d{1,5}[a-zA-Z]?\s+(?P<name>[^\W\d_][\w'\u2019\-]*(?:\s+[^\W\d_][\w'\u2019\-]*){0,2})"
    r"(?=\s*(?:[,;\n]|$))"
)
# Every match of `_NAME_THEN_NUMBER` holds a number (with its letters, `-` and `/` parts) that
# closes a line or a comma-separated part.
_NUMBER_CLOSING_GATE = re.compile(r"\d[\w\-/]*\s*(?:[,;\n]|$)")
# Every match of either holds a number ending a part, or a number before a word ending one.
_HOUSE_NUMBER_GATE = re.compile(r"\d\s*(?:[,;\n]|$)|\d[a-zA-Z]?\s+[^\W\d_][^,;\n]*(?:[,;\n]|$)")


# Street types that many languages write as a separate lower-case word after (or before) the
# street's name: "Liliom út 1329", "Brīvības iela 12", "Adámiho ulica 5", "Aasa tänav 3",
# "Atatürk caddesi 12". Only next to a name the street rule already accepts, never alone.
_LOWER_STREET_TYPES = frozenset(
    [
        *("út", "utca", "útja", "tér", "körút", "sor", "köz", "sétány", "fasor", "rakpart"),
        *("ulica", "ulice", "ul", "třída", "náměstí", "nábřeží", "cesta", "trieda", "námestie"),
        *("nábrežie", "iela", "gatve", "prospektas", "aikštė", "tänav", "tee", "maantee", "puiestee"),
        *("põik", "allee", "väljak", "katu", "tie", "kuja", "polku", "raitti", "vei", "veien", "gate"),
        *("gata", "gatan", "vej", "vägen", "väg", "stræde", "sokak", "soka\u011f\u0131", "caddesi", "cadde"),
        *("bulvar\u0131", "yolu", "küçəsi", "prospekti", "şossesi", "döngəsi", "vulica", "vulytsia"),
        *("ulitsa", "prospekt", "pereulok", "bulvar", "shosse", "naberezhnaya", "ploshchad"),
        *("street", "road", "lane", "avenue", "drive", "way", "marg", "nagar", "salai", "rasta"),
    ]
)


def _street_word(word: str, data: NameData) -> bool:
    """A word that can name a street: capitalized or caseless, and no frequent word."""
    if not word or (word.isupper() and len(word) > 1):
        return False
    first = word[0]
    if first.isupper() or (first.isalpha() and first.lower() == first.upper()):
        return _unknown(word, data) or (not word.isascii() and word.lower() not in data.common)
    return False


def _house_numbers(text: str, data: NameData) -> Iterator[Span]:
    """Streets written as a name and a house number, in either order, ending a line or a part."""
    if _HOUSE_NUMBER_GATE.search(text) is None:
        return
    for pattern, last in ((_NAME_THEN_NUMBER, True), (_NUMBER_THEN_NAME, False)):
        if last and _NUMBER_CLOSING_GATE.search(text) is None:
            continue  # no number closes a line or a part: the name-then-number form cannot match
        for match in pattern.finditer(text):
            words = list(_TOKEN.finditer(match.group("name")))
            if last:
                # A sentence's first words before the name ("Ship to Hlavinova 21 1272,").
                while len(words) > 1 and (
                    (words[0].group().isascii() and words[0].group()[0].islower())
                    or (words[0].group()[0].isupper() and not _street_word(words[0].group(), data))
                ):
                    words = words[1:]
            if not words:
                continue
            # The words next to the number: capitalized (or caseless-script) ones, every one of
            # them no frequent word ("3 Nimbus Backpacks," is a quantity), and lower-case words
            # of other scripts before them ("даңғылы Есбаев 1169"), not a sentence's ("to").
            capital = [w for w in words if w.group()[0].isupper() or not w.group()[0].islower()]
            if not capital or not all(_street_word(w.group(), data) for w in capital):
                continue
            # A lower-case street type right after the name belongs to the street ("Liliom út").
            typed = [
                w
                for index, w in enumerate(words)
                if w not in capital
                and w.group().lower() in _LOWER_STREET_TYPES
                and index > 0
                and words[index - 1] in capital
            ]
            if (words[-1] if last else words[0]) not in capital and not (last and words[-1] in typed):
                continue
            offset = match.start("name")
            kept = [w for w in words if w in capital or w in typed or not w.group().isascii()]
            if last:
                yield Span(offset + kept[0].start(), match.end(), "LOCATION", 0.7)
            else:
                yield Span(match.start(), offset + kept[-1].end(), "LOCATION", 0.7)


# An initial (or two) and a surname: "A. Kovač", "J.R. Okafor". A known first name after the
# initials is left to the name runs ("J. Smith" there too when Smith is listed).
_INITIALLED = re.compile(r"(?<![\w.])(?:[A-Z]\. ?){1,2}(?P<surname>[A-Z][\w'\u2019\-]+)")


def _initialled(text: str, data: NameData) -> Iterator[Span]:
    """An initial and a surname that is a listed last name or no frequent word."""
    if ". " not in text and not re.search(r"[A-Z]\.[A-Z]", text):
        return
    for match in _INITIALLED.finditer(text):
        surname = match.group("surname")
        if surname.lower() in data.common or surname.isupper():
            continue
        if surname in data.last or _unknown(surname, data):
            yield Span(match.start(), match.end(), "PERSON", 0.5)


# "Diallo, Aissatou": a surname, a comma and the person's first name, as lists and forms write
# them; only where a list item or a value starts, so "Paris, Anna said" in prose is not taken.
_SURNAME_COMMA = re.compile(r"(?:^|(?<=[;\n:|/(\[\"]))\s*(?P<surname>[^\W\d_][\w'\u2019\-]+), $")


def _inverted(text: str, spans: list[Span], data: NameData) -> list[Span]:
    """PERSON spans extended over the other half of a "Surname, Given" list item."""
    if ", " not in text:
        return spans
    out = []
    for span in spans:
        if span.entity_type != "PERSON":
            out.append(span)
            continue
        first = _TOKEN.match(text, span.start)
        head = text[max(0, span.start - 40) : span.start]
        before = _SURNAME_COMMA.search(head) if head.endswith(", ") else None
        if first is not None and before is not None and _titled(first.group()) in data.first:
            # A first name that opens the span, after "Surname, " that opens a list item.
            surname = _titled(before.group("surname"))
            if surname.lower() not in data.common and (surname in data.last or _unknown(surname, data)):
                span = Span(span.start - len(head) + before.start("surname"), span.end, "PERSON", span.score)
        elif _SURNAME_COMMA.search(text[max(0, span.start - 40) : span.end] + ", ") is not None:
            # A recognized surname opening a list item: the given name after it that closes the item.
            given = _GIVEN_AFTER.match(text, span.end)
            word = given.group("given") if given is not None else ""
            if (
                given is not None
                and word not in data.places
                and (_titled(word) in data.first or _unknown(word, data))
            ):
                span = Span(span.start, given.end("given"), "PERSON", span.score)
        out.append(span)
    return out


_GIVEN_AFTER = re.compile(r", (?P<given>[^\W\d_][\w'\u2019\-]+)(?=\s*(?:$|[;\n|)\]\"]))")


def _places_beside_addresses(text: str, spans: list[Span]) -> list[Span]:
    """A guessed one-word name right next to a street or postcode is the town: "Street, London NW1"."""
    anchors = [s for s in spans if s.entity_type == "LOCATION" and s.score >= 0.7]
    if not anchors:
        return spans
    out = []
    for span in spans:
        if span.entity_type == "PERSON" and span.score < 0.7 and " " not in text[span.start : span.end]:
            for anchor in anchors:
                gap = (
                    text[anchor.end : span.start]
                    if anchor.end <= span.start
                    else text[span.end : anchor.start]
                )
                if len(gap) <= 3 and not gap.strip(", \n"):
                    span = Span(span.start, span.end, "LOCATION", span.score)
                    break
        out.append(span)
    return out


# Letters of scripts without capital letters: Arabic, Hebrew, Indic, Thai, Lao, Georgian, Ethiopic,
# Khmer, Myanmar, Hangul, Kana and Han. Capitalization says nothing there, and a Latin-script
# vocabulary does not know their words, so a short run of them is taken as a name.
_CASELESS_LETTERS = (
    "\u0590-\u05ff\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\u0900-\u0dff\u0e00-\u0eff\u1000-\u109f"
    "\u10a0-\u10ff\u1100-\u11ff\u1200-\u139f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7af\uf900-\ufaff\ufb1d-\ufdff\ufe70-\ufeff\u200c\u200d"
)
_CASELESS_RUN = re.compile(f"[{_CASELESS_LETTERS}]+(?:[ \u00b7\u30fb][{_CASELESS_LETTERS}]+)*")
_CASELESS_NAME_MAX = 24  # characters; a longer run is prose in that script
UNREAD_SCRIPT = "UNSCANNED"


def caseless_runs(text: str) -> Iterator[Span]:
    """Short runs of caseless-script words as PERSON; longer ones (prose) as UNSCANNED: fail closed."""
    for match in _CASELESS_RUN.finditer(text):
        if match.end() - match.start() <= _CASELESS_NAME_MAX:
            yield Span(match.start(), match.end(), "PERSON", 0.4)
        else:
            yield Span(match.start(), match.end(), UNREAD_SCRIPT, 0.3)


# Lower-case words inside or after a name: "Ludwig van Beethoven", "Ardak Ysqaq uly".
_PATRONYMICS = frozenset(
    [
        *("uly", "ul\u0131", "\u04b1\u043b\u044b", "\u049b\u044b\u0437\u044b", "kyzy", "qizi", "uulu"),
        *("oglu", "o\u011flu", "ogly", "kizi", "k\u0131z\u0131"),
    ]
)
_PARTICLES = _PATRONYMICS | frozenset(
    [
        *("van", "von", "der", "den", "de", "del", "della", "di", "da", "das", "dos", "du", "le", "la"),
        *("bin", "ibn", "bint", "al", "el", "ter", "ten", "y", "zu"),
        # Dutch "te", "op", "in 't"; Scandinavian "af", "av"; Portuguese "e"; Italian "dei", "degli"
        *("te", "op", "af", "av", "e", "dei", "degli", "lo", "ben", "bat", "mac", "ní", "nic"),
    ]
)


def _gazetteer_runs(text: str, data: NameData) -> Iterator[Span]:
    """Runs of capitalized words that contain a known first name (or are a known place)."""
    run: list[re.Match[str]] = []
    for token in _TOKEN.finditer(text):
        word = token.group()
        gap = text[run[-1].end() : token.start()] if run else ""
        if not word[0].isupper():  # most words: they only end the run
            if run and gap == " " and word in _PARTICLES:
                run.append(token)
                continue
            if run:
                yield from _judge(text, run, data)
                run = []
            continue
        # Names hold no digits: "NW1" ends a run rather than joining "London" to it.
        capital = word.lower() not in data.common and (word.isalpha() or not any(c.isdigit() for c in word))
        # "J. Smith": a full stop joins a run only after an initial.
        adjacent = gap in (" ", "-") or (gap == ". " and bool(run) and len(run[-1].group()) == 1)
        if capital and (not run or adjacent):
            run.append(token)
            continue
        yield from _judge(text, run, data)
        run = [token] if capital else []
    yield from _judge(text, run, data)


# Ordinary words (kept out of the name lists as too common) that are also frequent surnames; one
# is taken as a surname only right after a known first name, with a capital, and a month not
# before a day ("Dana May says", not "Anna May 3").
_ORDINARY_SURNAMES = frozenset(
    [
        *("may", "will", "mark", "bill", "grace", "hope", "joy", "faith", "art", "rose", "summer"),
        *("winter", "spring", "star", "page", "chase", "ray", "dawn", "pat", "sue", "lane", "dale"),
        *("dean", "drew", "small", "little", "young", "long", "north", "west", "south", "east"),
        *("park", "hill", "lake", "rivers", "bay", "gold", "silver", "king", "love", "price"),
    ]
)
_ORDINARY_GIVEN = frozenset(
    [
        *("will", "mark", "bill", "grace", "hope", "joy", "faith", "art", "rose", "summer", "dawn"),
        *("pat", "sue", "ray", "dean", "drew", "dale", "chase", "may", "june", "april", "hunter"),
    ]
)
_GIVEN_BEFORE = re.compile(r"(?<![\w'\u2019\-])(?P<word>[A-Z][a-z]{1,11}) $")
_ORDINARY_SURNAME = re.compile(r" (?P<word>[A-Z][a-z]{1,11})\b(?! ?\d)")


def _unknown(word: str, data: NameData) -> bool:
    """A capitalized word that is no frequent word of the vocabulary's languages."""
    bare = word.split("'")[0].split("\u2019")[0]
    return bare.isalpha() and bare.lower() not in data.vocabulary and not bare.isupper()


def _judge(text: str, run: list[re.Match[str]], data: NameData) -> Iterator[Span]:
    while run and run[-1].group() in _PARTICLES and run[-1].group() not in _PATRONYMICS:
        run = run[:-1]  # "de" after a name belongs to what follows, "uly" to the name
    if not run:
        return
    words = [_titled(m.group()) for m in run]
    is_first = [w in data.first for w in words]
    # A given name that is also an ordinary word ("Will", "Grace") before a surname the lists
    # hold or no vocabulary knows: "Will Gabler", "Grace Okafor".
    given = _GIVEN_BEFORE.search(text, max(0, run[0].start() - 13), run[0].start())
    if (
        given is not None
        and given.group("word").lower() in _ORDINARY_GIVEN
        and (words[0] in data.last or is_first[0] or _unknown(run[0].group(), data))
    ):
        yield Span(given.start("word"), run[-1].end(), "PERSON", 0.6)
        return
    if len(words) == 1 and words[0] in data.places:
        yield Span(run[0].start(), run[0].end(), "LOCATION", 0.5)
        return
    if any(is_first):
        begin = is_first.index(True)
        # "Athislus Sahin": a word before the first name that is no ordinary word is a name too.
        while begin > 0 and (_unknown(run[begin - 1].group(), data) or words[begin - 1] in data.last):
            begin -= 1
        # A first name with the capitalized words after it (surnames, unknown ones included), and
        # a surname that is also an ordinary word right after it ("Lazaro Small", "Dana May").
        stop = run[-1].end()
        after = _ORDINARY_SURNAME.match(text, stop)
        if after is not None and after.group("word").lower() in _ORDINARY_SURNAMES:
            stop = after.end("word")
        yield Span(run[begin].start(), stop, "PERSON", 0.6)
        return
    if len(words) >= 2 and sum(w in data.last for w in words) >= 2:
        yield Span(run[0].start(), run[-1].end(), "PERSON", 0.5)
        return
    phrase = " ".join(words)
    if phrase in data.places:
        yield Span(run[0].start(), run[-1].end(), "LOCATION", 0.5)
        return
    capitals = [m for m in run if m.group()[0].isupper() and len(m.group()) > 1]
    if len(capitals) >= 2 and any(_unknown(m.group(), data) for m in capitals):
        # Two capitalized words, one of them no ordinary word: a name from no list (any culture).
        yield Span(run[0].start(), run[-1].end(), "PERSON", 0.45)
        return
    for index, word in enumerate(words):
        if word in data.places:
            yield Span(run[index].start(), run[index].end(), "LOCATION", 0.5)

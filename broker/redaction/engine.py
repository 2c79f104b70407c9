"""The redactor: walks JSON whole, uses field names as evidence, finds values in text, replaces them.

One payload is handled in three passes:
1. collect: every leaf with its path; each path shape (list positions collapsed) is classified from
   its keys once and cached, so a list of 1,000 similar objects costs one classification per field;
2. detect: values under sensitive keys are sensitive whole (strings, numbers and booleans alike);
   other strings are normalized and scanned, the pattern recognizers once over all of them joined,
   person and place detection once per payload (one spaCy `pipe` call when a model is installed);
   every sensitive value found anywhere is then searched for in every other string (propagation);
3. rebuild: a new document with the replacements and a report of counts by type and path.

Fail closed: encoded blobs that decode to text, and anything left unscanned when the time budget
runs out, are redacted whole.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import logging
import re
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from broker.redaction import fields, gazetteer
from broker.redaction.config import RedactionConfig
from broker.redaction.normalize import Normalized, normalize
from broker.redaction.operators import Operator, recipient_key, replacement
from broker.redaction.patterns import Rule, default_rules, run_rules
from broker.redaction.spans import Span, resolve

log = logging.getLogger(__name__)
UNSCANNED, ENCODED = "UNSCANNED", "ENCODED_CONTENT"
# Why a report says complete: false.
_OUT_OF_TIME = "time budget spent: what was not scanned is withheld (UNSCANNED)"
_UNREAD_SCRIPT = "prose in a script the engine cannot read for names is withheld (UNSCANNED)"
_ENCODED_BINARY = "encoded binary content cannot be inspected and is withheld (ENCODED_CONTENT)"
# Base64 (standard, URL-safe, line-wrapped) and hex runs inside text.
_ENCODED_TOKEN = re.compile(
    r"(?<![A-Za-z0-9+/_\-])(?:[A-Za-z0-9+/_\-]{8,}(?:\r?\n[A-Za-z0-9+/_\-]{4,})*={0,2})(?![A-Za-z0-9+/_\-])"
)
_SEPARATOR = "\n\n"
_CHUNK = 8192  # joined text scanned between two looks at the clock
_ENCODED_SHAPE = re.compile(r"[A-Za-z0-9+/_\-]{24,}={0,2}")
_NAME_TOKEN = re.compile(r"[^\W\d_][\w'\u2019]*")
_SHAPE_CACHE_MAX = 4096
_DIGIT_OR_AT = re.compile(r"[\d@]")


class RedactionError(ValueError):
    """The data cannot be redacted as given (too deep)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DisclosurePolicy:
    """What the recipient may see: revealed entity types, the operator, who the recipient is and
    whose data it is (pseudonyms are keyed by both)."""

    reveal: frozenset[str] = frozenset()
    operator: Operator = Operator.REPLACE
    recipient: str = ""
    subject: str = ""


@dataclass(frozen=True, slots=True)
class RedactionResult:
    """The redacted document and its report (counts by type and path, never values)."""

    data: Any
    report: dict[str, Any]


@dataclass(slots=True)
class _Leaf:
    shape: str
    value: Any
    entity_type: str | None  # from the field name
    business: bool
    text: Normalized | None = None
    whole: str | None = None  # the whole value is of this type
    spans: list[Span] = field(default_factory=list)
    label: str = ""  # the words of the value's key, context for the pattern recognizers
    nested: Any = None  # JSON parsed from this string; its leaves follow this one
    compact: bool = True  # how the nested JSON was written (separators)


# A key that is an identifier (`email`, `firstName`, `line_2`) names a field; any other key
# (`alice@example.com`, `Wang Wei`, `+44 20 7946 0000`) may itself be personal data and is scanned.
_PLAIN_KEY = re.compile(r"[A-Za-z_$][A-Za-z0-9_$\-]{0,63}")
_JSON_TEXT = re.compile(r"\s*(?:\{.*\}|\[.*\])\s*", re.DOTALL)
_KEY = "<key>"


def _plain(key: str) -> bool:
    return _PLAIN_KEY.fullmatch(key) is not None


class _Nested:
    """The output of a string that held JSON: the rebuilt inner document, serialized again."""

    __slots__ = ("compact", "value")

    def __init__(self, value: Any, compact: bool) -> None:
        self.value = value
        self.compact = compact


class _Walk:
    """Leaves of one payload, in document order; scanned keys and JSON held in strings included."""

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self.leaves: list[_Leaf] = []

    def collect(self, value: Any, keys: tuple[str, ...], shape: str, depth: int) -> None:
        if depth > self.redactor.max_depth:
            raise RedactionError(f"the data is nested deeper than {self.redactor.max_depth} levels")
        if isinstance(value, dict):
            container: str | None = None
            for key, item in value.items():
                key = str(key)
                if _plain(key):
                    self.collect(item, (*keys, key), f"{shape}.{key}", depth + 1)
                    continue
                if container is None:
                    container = (self.redactor.classify(keys)[0] if keys else None) or ""
                # A key under a person list (`attendees`) is that person; others are scanned.
                self.leaves.append(_Leaf(f"{shape}.{_KEY}", key, container or None, False))
                self.collect(item, (*keys, "*"), f"{shape}.{_KEY}", depth + 1)
        elif isinstance(value, list):
            for item in value:
                self.collect(item, keys, shape + "[*]", depth + 1)
        else:
            entity_type, business = self.redactor.classify(keys)
            leaf = _Leaf(shape, value, entity_type, business)
            if keys and keys[-1] != "*":
                leaf.label = self.redactor.label(keys[-1])
            self.leaves.append(leaf)
            if (
                entity_type is None
                and isinstance(value, str)
                and len(value) >= 2
                and value.lstrip()[:1] in "{["
            ):
                inner = _parse_json(value)
                if inner is not None:
                    # JSON inside a string is walked as JSON: its keys are evidence too.
                    leaf.nested = inner
                    leaf.compact = '": ' not in value and '", ' not in value
                    self.collect(inner, keys, shape + "<json>", depth + 1)


def _parse_json(value: str) -> Any:
    if not _JSON_TEXT.fullmatch(value):
        return None
    try:
        inner = json.loads(value)
    except (ValueError, RecursionError):
        return None
    return inner if isinstance(inner, (dict, list)) else None


class Redactor:
    """Structure-aware redaction on Presidio, offline. Build one per process and reuse it."""

    def __init__(
        self,
        *,
        secret: bytes,
        spacy_model: str | None = None,
        config: RedactionConfig | None = None,
        max_depth: int = 64,
        time_budget: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if len(secret) < 16:
            raise ValueError("the redaction secret must be at least 16 bytes")
        self._secret = secret
        self.config = config or RedactionConfig()
        self.max_depth = max_depth
        self.time_budget = time_budget
        self._clock = clock
        self._rules: tuple[Rule, ...] = (*default_rules(), *self.config.rules)
        self._shapes: dict[tuple[str, ...], tuple[str | None, bool]] = {}
        self._labels: dict[str, str] = {}
        self._names = gazetteer.name_data()
        self._ner = None
        if spacy_model:
            from broker.redaction.ner import NerDetector

            self._ner = NerDetector(spacy_model)

    def __repr__(self) -> str:
        return f"Redactor(mode={self.mode!r})"

    @property
    def mode(self) -> str:
        """`ner:<model>` with an installed spaCy model, else `gazetteer`."""
        return f"ner:{self._ner.model}" if self._ner is not None else "gazetteer"

    def classify(self, keys: tuple[str, ...]) -> tuple[str | None, bool]:
        """The entity type and business flag of a path, cached per shape."""
        found = self._shapes.get(keys)
        if found is None:
            if len(self._shapes) >= _SHAPE_CACHE_MAX:
                self._shapes.clear()
            found = self._shapes[keys] = fields.classify(keys, self.config.fields)
        return found

    def label(self, key: str) -> str:
        """A key's words as context text: `contactPhone` gives "contact phone: "."""
        found = self._labels.get(key)
        if found is None:
            if len(self._labels) >= _SHAPE_CACHE_MAX:
                self._labels.clear()
            found = self._labels[key] = " ".join(fields.key_tokens(key)) + ": "
        return found

    def redact(self, data: Any, policy: DisclosurePolicy) -> RedactionResult:
        """Redact a JSON document for one recipient under one policy."""
        deadline = self._clock() + self.time_budget
        walk = _Walk(self)
        walk.collect(data, (), "$", 0)
        reasons: set[str] = set()
        self._detect(walk.leaves, deadline, reasons)
        key = (
            recipient_key(self._secret, policy.recipient, policy.subject)
            if policy.operator is Operator.PSEUDONYM
            else None
        )
        counts: dict[str, int] = {}
        paths: dict[str, dict[str, int]] = defaultdict(dict)
        outputs = [self._finish(leaf, policy, key, counts, paths) for leaf in walk.leaves]
        position = iter(outputs)
        redacted = _rebuild(data, position)
        report = {
            "counts": dict(sorted(counts.items())),
            "paths": {p: dict(sorted(c.items())) for p, c in sorted(paths.items())},
            "operator": str(policy.operator),
            "revealed": sorted(policy.reveal),
            "complete": not reasons,
            "mode": self.mode,
        }
        if reasons:
            report["incomplete"] = sorted(reasons)
        return RedactionResult(redacted, report)

    # -- detection -------------------------------------------------------------------------------

    def _detect(self, leaves: list[_Leaf], deadline: float, reasons: set[str]) -> None:
        known: dict[str, str] = {}
        scan: list[_Leaf] = []
        business: set[str] = set()
        places: list[_Leaf] = []
        for leaf in leaves:
            value = leaf.value
            if value is None or leaf.nested is not None:
                continue  # a string that held JSON is rebuilt from its own leaves
            if leaf.entity_type == fields.PLACE:
                if isinstance(value, str):
                    leaf.entity_type = None  # scanned; withheld whole if it holds a place
                    places.append(leaf)
                else:
                    leaf.entity_type = fields.LOCATION
            if leaf.entity_type is not None:
                if isinstance(value, str) and not value.strip():
                    continue
                leaf.whole = leaf.entity_type
                if self._allowed(str(value)):
                    leaf.whole = None
                    continue
                if not isinstance(value, bool):
                    _remember(known, leaf.entity_type, str(value))
            elif isinstance(value, str):
                if _is_encoded(value):
                    leaf.whole = ENCODED
                    continue
                leaf.text = normalize(value)
                scan.append(leaf)
                if leaf.business and 4 <= len(value) <= 80:
                    business.add(value)
                self._decode_tokens(leaf, reasons)
            elif isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 1_000_000:
                leaf.text = Normalized(str(value), None)  # a bare number may be a phone, card or SSN
                scan.append(leaf)
        if not self._scan_patterns(scan, deadline, known):
            reasons.add(_OUT_OF_TIME)
        if not self._scan_names(scan, deadline, business):
            reasons.add(_OUT_OF_TIME)
        for leaf in places:
            if leaf.whole is None and leaf.text is not None and _is_place(leaf):
                leaf.whole = fields.LOCATION
                if not self._allowed(leaf.value):
                    _remember(known, fields.LOCATION, leaf.value)
                else:
                    leaf.whole = None
        for leaf in scan:
            assert leaf.text is not None
            for span in leaf.spans:
                if span.entity_type == UNSCANNED:
                    reasons.add(_UNREAD_SCRIPT)
                elif span.score >= 0.5:  # weak guesses are redacted where found, not searched for
                    _remember(known, span.entity_type, leaf.text.text[span.start : span.end])
        self._propagate(scan, known)

    def _decode_tokens(self, leaf: _Leaf, reasons: set[str]) -> None:
        """Base64 and hex runs inside text: decoded and scanned; kept only when nothing is found."""
        assert leaf.text is not None
        text = leaf.text.text
        if len(text) < 8:
            return
        for match in _ENCODED_TOKEN.finditer(text):
            token = match.group()
            # A run of letters shorter than a hex run decodes to nothing (`_decode_token`'s own
            # first checks): most such runs are ordinary words ("migration").
            decoded = None if len(token) < 16 and token.isalpha() else _decode_token(token)
            if decoded is None:
                if match.start() >= 5 and text[max(0, match.start() - 8) : match.start()].endswith(
                    ";base64,"
                ):
                    # Binary content in a data: URI cannot be inspected: withheld.
                    leaf.spans.append(Span(match.start(), match.end(), ENCODED, 0.9))
                    reasons.add(_ENCODED_BINARY)
                continue
            found = self._inspect(decoded)
            if found is not None:
                leaf.spans.append(Span(match.start(), match.end(), found, 0.9))

    def _inspect(self, text: str) -> str | None:
        """The strongest entity type found in a decoded text, or None."""
        inner = normalize(text)
        spans = run_rules(self._rules, inner.text, [(0, len(inner.text))])
        if not spans:
            spans = gazetteer.find_people_and_places(inner.text, self._names)
        if not spans:
            return None
        return max(spans, key=lambda s: s.score).entity_type

    def _scan_patterns(self, scan: list[_Leaf], deadline: float, known: dict[str, str]) -> bool:
        batch: list[_Leaf] = []
        size = 0
        for index, leaf in enumerate(scan):
            assert leaf.text is not None
            text = leaf.text.text
            if _DIGIT_OR_AT.search(text) is not None:
                batch.append(leaf)
                size += len(text) + len(_SEPARATOR)
            if size >= _CHUNK or index == len(scan) - 1:
                if self._clock() > deadline:
                    _give_up(batch + scan[index + 1 :])
                    return False
                self._patterns_in(batch, known)
                batch, size = [], 0
        return True

    def _patterns_in(self, batch: list[_Leaf], known: dict[str, str]) -> None:
        if not batch:
            return
        # Each text is preceded by its key's words ("contact phone: 0612..."): context for the
        # recognizers, never redacted itself. `bounds` span key and text; `starts` the text alone.
        bounds: list[tuple[int, int]] = []
        starts: list[int] = []
        parts: list[str] = []
        offset = 0
        for leaf in batch:
            assert leaf.text is not None
            part = leaf.label + leaf.text.text
            bounds.append((offset, offset + len(part)))
            starts.append(offset + len(leaf.label))
            parts.append(part)
            offset += len(part) + len(_SEPARATOR)
        joined = _SEPARATOR.join(parts)
        for span in run_rules(self._rules, joined, bounds, known):
            index = bisect.bisect_right(starts, span.start) - 1
            for position in range(max(index, 0), len(batch)):
                start, end = starts[position], bounds[position][1]
                if start >= span.end:
                    break
                if span.start < end and span.end > start:
                    batch[position].spans.append(
                        Span(
                            max(span.start, start) - start,
                            min(span.end, end) - start,
                            span.entity_type,
                            span.score,
                        )
                    )

    def _scan_names(self, scan: list[_Leaf], deadline: float, business: set[str]) -> bool:
        # Only text with a capital letter (or a caseless script) can hold a name the lists or cues
        # recognize; business fields (product, status, company) hold names of things, not people,
        # and their values are not taken for people where they recur.
        todo = [
            leaf
            for leaf in scan
            if leaf.text is not None
            and (not leaf.text.text.islower() or not leaf.text.text.isascii())
            and not leaf.text.text.isdigit()
        ]
        if self._clock() > deadline:
            _give_up(todo)
            return False
        if self._ner is not None:
            found = self._ner.find([leaf.text.text for leaf in todo if leaf.text is not None])
            for leaf, spans in zip(todo, found, strict=True):
                leaf.spans.extend(spans)
        for index, leaf in enumerate(todo):
            assert leaf.text is not None
            if index % 64 == 63 and self._clock() > deadline:
                _give_up(todo[index:])
                return False
            guessed = gazetteer.find_people_and_places(
                leaf.text.text, self._names, names=self._ner is None and not leaf.business
            )
            if business and guessed:
                guessed = _not_business(leaf.text.text, guessed, business)
            leaf.spans.extend(guessed)
        return True

    def _propagate(self, scan: list[_Leaf], known: dict[str, str]) -> None:
        """Remove every known sensitive value wherever else it recurs (whole words only).

        A value that recurs starts at a word boundary, so its first word is a whole word of the
        text: values are indexed by their first word and only looked for where that word occurs,
        which keeps a payload of many records linear rather than values x texts.
        """
        if not known:
            return
        index: dict[str, list[tuple[str, int, str]]] = defaultdict(list)
        loose: list[tuple[str, str]] = []
        for needle, entity_type in known.items():
            first = _ALNUM.search(needle)
            if first is None:
                loose.append((needle, entity_type))
            else:
                index[first.group()].append((needle, first.start(), entity_type))
        for leaf in scan:
            if leaf.text is None or leaf.whole is not None:
                continue
            text = leaf.text.text
            lowered = text.lower()
            if len(lowered) != len(text):
                lowered = text  # rare: case-folding changed the length; match exact case only
            # Only the words of this text that begin a known value are visited (most texts hold
            # none); each is found as a whole word with `str.find`, not by walking every word.
            for head in index.keys() & set(_ALNUM.findall(lowered)):
                candidates = index[head]
                at = lowered.find(head)
                while at != -1:
                    after = at + len(head)
                    if (at == 0 or not _ALNUM_CHAR(lowered[at - 1])) and (
                        after == len(lowered) or not _ALNUM_CHAR(lowered[after])
                    ):
                        for needle, offset, entity_type in candidates:
                            start = at - offset
                            if start >= 0 and lowered.startswith(needle, start):
                                _whole_word(leaf, text, start, start + len(needle), entity_type)
                    at = lowered.find(head, after)
            for needle, entity_type in loose:
                start = lowered.find(needle)
                while start != -1:
                    _whole_word(leaf, text, start, start + len(needle), entity_type)
                    start = lowered.find(needle, start + len(needle))

    def _allowed(self, value: str) -> bool:
        return bool(self.config.allow) and value.strip().casefold() in self.config.allow

    # -- output ----------------------------------------------------------------------------------

    def _finish(
        self,
        leaf: _Leaf,
        policy: DisclosurePolicy,
        key: bytes | None,
        counts: dict[str, int],
        paths: dict[str, dict[str, int]],
    ) -> Any:
        if leaf.nested is not None:
            return _Nested(leaf.nested, leaf.compact)
        if leaf.whole is not None:
            if leaf.whole in policy.reveal:
                return leaf.value
            _count(counts, paths[leaf.shape], leaf.whole)
            if policy.operator is Operator.DROP:
                return _DROP
            return replacement(policy.operator, leaf.whole, str(leaf.value), key)
        if leaf.text is None or not leaf.spans:
            return leaf.value
        original = str(leaf.value)
        pieces: list[str] = []
        cursor = 0
        hidden = False
        for span in resolve(leaf.spans):
            if span.entity_type in policy.reveal:
                continue
            start, end = leaf.text.span(span.start, span.end)
            if start < cursor or self._allowed(original[start:end]):
                continue
            _count(counts, paths[leaf.shape], span.entity_type)
            pieces.append(original[cursor:start])
            pieces.append(replacement(policy.operator, span.entity_type, original[start:end], key))
            cursor = end
            hidden = True
        if not hidden:
            return leaf.value
        if policy.operator is Operator.DROP:
            return _DROP
        pieces.append(original[cursor:])
        return "".join(pieces)


_DROP = object()


def _count(counts: dict[str, int], path: dict[str, int], entity_type: str) -> None:
    counts[entity_type] = counts.get(entity_type, 0) + 1
    path[entity_type] = path.get(entity_type, 0) + 1


_ALNUM = re.compile(r"[^\W_]+")
_ALNUM_CHAR = re.compile(r"[^\W_]").match  # one character of an `_ALNUM` word


def _whole_word(leaf: _Leaf, text: str, start: int, end: int, entity_type: str) -> None:
    if (start == 0 or not text[start - 1].isalnum()) and (end == len(text) or not text[end].isalnum()):
        leaf.spans.append(Span(start, end, entity_type, 0.9))


def _not_business(text: str, spans: list[Span], business: set[str]) -> list[Span]:
    """Drop guessed names and places that lie inside a business value of the same payload."""
    inside: list[tuple[int, int]] = []
    for value in business:
        start = text.find(value)
        while start != -1:
            inside.append((start, start + len(value)))
            start = text.find(value, start + 1)
    if not inside:
        return spans
    return [
        s
        for s in spans
        if s.score >= 0.7
        or s.entity_type not in (fields.PERSON, fields.LOCATION)
        or not any(a <= s.start and s.end <= b for a, b in inside)
    ]


_COORDINATES = re.compile(r"\s*[-+]?\d{1,3}\.\d+\s*[,;/ ]\s*[-+]?\d{1,3}\.\d+\s*")


def _is_place(leaf: _Leaf) -> bool:
    """A value under a `location` key that names a place (street, postcode, town, coordinates)."""
    assert leaf.text is not None
    return _COORDINATES.fullmatch(leaf.text.text) is not None or any(
        span.entity_type == fields.LOCATION for span in leaf.spans
    )


def _give_up(leaves: list[_Leaf]) -> None:
    # Out of time: what was not scanned is not shown.
    for leaf in leaves:
        leaf.whole = UNSCANNED


def _remember(known: dict[str, str], entity_type: str, value: str) -> None:
    value = value.strip()
    if len(value) >= 4:
        known.setdefault(value.lower(), entity_type)
    if entity_type == fields.PERSON:
        for token in _NAME_TOKEN.findall(value):
            if len(token) >= 3 and token.lower() not in gazetteer.COMMON_WORDS:
                known.setdefault(token.lower(), entity_type)


_HEX_RUN = re.compile(r"[0-9a-fA-F]+")
_ASCII_DIGIT = re.compile(r"[0-9]")


def _decode_token(token: str) -> str | None:
    """The text a base64 or hex run decodes to, or None (not encoded, or not text)."""
    # The token is ASCII (`_ENCODED_TOKEN`): C-level string tests stand in for per-character ones.
    compact = "".join(token.split())
    if len(compact) >= 16 and len(compact) % 2 == 0 and _HEX_RUN.fullmatch(compact):
        raw = bytes.fromhex(compact)
    elif not (
        compact.endswith("=")
        or (
            _ASCII_DIGIT.search(compact) is not None
            and compact.lower() != compact  # an upper-case letter
            and compact.upper() != compact  # a lower-case letter
        )
        or ("+" in compact or "/" in compact)
    ):
        return None  # an ordinary word or reference, not an encoding
    else:
        body = compact.rstrip("=").replace("-", "+").replace("_", "/")
        if len(body) % 4 == 1:
            return None
        try:
            raw = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
        except (binascii.Error, ValueError):
            return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if len(text) < 4 or sum(c.isprintable() or c.isspace() for c in text) < 0.95 * len(text):
        return None
    return text


def _is_encoded(value: str) -> bool:
    """A base64 blob that decodes to text hides content that cannot be checked: fail closed."""
    if len(value) < 24 or not _ENCODED_SHAPE.fullmatch(value):
        return False
    if not (any(c.isupper() for c in value) and any(c.islower() for c in value)):
        return False  # hex digests and the like
    try:
        decoded = base64.b64decode(value.replace("-", "+").replace("_", "/") + "=" * (-len(value) % 4))
        text = decoded.decode("utf-8")
    except (binascii.Error, ValueError):
        return False
    printable = sum(c.isprintable() or c.isspace() for c in text)
    return printable >= 0.9 * max(len(text), 1)


def _rebuild(value: Any, outputs: Any) -> Any:
    if isinstance(value, dict):
        result: dict[str, Any] = {}
        for key, item in value.items():
            new_key = key if _plain(str(key)) else next(outputs)
            out = _rebuild(item, outputs)
            if out is _DROP or new_key is _DROP:
                continue
            if new_key in result:  # two keys redacted to the same placeholder
                number = 2
                while f"{new_key}#{number}" in result:
                    number += 1
                new_key = f"{new_key}#{number}"
            result[new_key] = out
        return result
    if isinstance(value, list):
        items = [_rebuild(item, outputs) for item in value]
        return [item for item in items if item is not _DROP]
    out = next(outputs)
    if isinstance(out, _Nested):
        inner = _rebuild(out.value, outputs)
        if inner is _DROP:
            return _DROP
        separators = (",", ":") if out.compact else (", ", ": ")
        return json.dumps(inner, ensure_ascii=False, separators=separators)
    return out

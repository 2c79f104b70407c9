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
import logging
import re
import time
from collections import Counter, defaultdict
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
_SEPARATOR = "\n\n"
_CHUNK = 8192  # joined text scanned between two looks at the clock
_ENCODED_SHAPE = re.compile(r"[A-Za-z0-9+/_\-]{24,}={0,2}")
_NAME_TOKEN = re.compile(r"[^\W\d_][\w'\u2019]*")
_SHAPE_CACHE_MAX = 4096


class RedactionError(ValueError):
    """The data cannot be redacted as given (too deep)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DisclosurePolicy:
    """What the recipient may see: revealed entity types, the operator, and who the recipient is."""

    reveal: frozenset[str] = frozenset()
    operator: Operator = Operator.REPLACE
    recipient: str = ""


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


class _Walk:
    """Leaves of one payload, in document order."""

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self.leaves: list[_Leaf] = []

    def collect(self, value: Any, keys: tuple[str, ...], shape: str, depth: int) -> None:
        if depth > self.redactor.max_depth:
            raise RedactionError(f"the data is nested deeper than {self.redactor.max_depth} levels")
        if isinstance(value, dict):
            for key, item in value.items():
                self.collect(item, (*keys, str(key)), f"{shape}.{key}", depth + 1)
        elif isinstance(value, list):
            for item in value:
                self.collect(item, keys, shape + "[*]", depth + 1)
        else:
            entity_type, business = self.redactor.classify(keys)
            self.leaves.append(_Leaf(shape, value, entity_type, business))


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

    def redact(self, data: Any, policy: DisclosurePolicy) -> RedactionResult:
        """Redact a JSON document for one recipient under one policy."""
        deadline = self._clock() + self.time_budget
        walk = _Walk(self)
        walk.collect(data, (), "$", 0)
        complete = self._detect(walk.leaves, deadline)
        key = recipient_key(self._secret, policy.recipient) if policy.operator is Operator.PSEUDONYM else None
        counts: Counter[str] = Counter()
        paths: dict[str, Counter[str]] = defaultdict(Counter)
        outputs = [self._finish(leaf, policy, key, counts, paths) for leaf in walk.leaves]
        position = iter(outputs)
        redacted = _rebuild(data, position)
        report = {
            "counts": dict(sorted(counts.items())),
            "paths": {p: dict(sorted(c.items())) for p, c in sorted(paths.items())},
            "operator": str(policy.operator),
            "revealed": sorted(policy.reveal),
            "complete": complete,
            "mode": self.mode,
        }
        return RedactionResult(redacted, report)

    # -- detection -------------------------------------------------------------------------------

    def _detect(self, leaves: list[_Leaf], deadline: float) -> bool:
        known: dict[str, str] = {}
        scan: list[_Leaf] = []
        for leaf in leaves:
            value = leaf.value
            if value is None:
                continue
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
            elif isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 1_000_000:
                leaf.text = Normalized(str(value), None)  # a bare number may be a phone, card or SSN
                scan.append(leaf)
        complete = self._scan_patterns(scan, deadline, known)
        complete = self._scan_names(scan, deadline) and complete
        for leaf in scan:
            assert leaf.text is not None
            for span in leaf.spans:
                _remember(known, span.entity_type, leaf.text.text[span.start : span.end])
        self._propagate(scan, known)
        return complete

    def _scan_patterns(self, scan: list[_Leaf], deadline: float, known: dict[str, str]) -> bool:
        batch: list[_Leaf] = []
        size = 0
        for index, leaf in enumerate(scan):
            assert leaf.text is not None
            text = leaf.text.text
            if any(c.isdigit() for c in text) or "@" in text:
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
        bounds: list[tuple[int, int]] = []
        parts: list[str] = []
        offset = 0
        for leaf in batch:
            assert leaf.text is not None
            bounds.append((offset, offset + len(leaf.text.text)))
            parts.append(leaf.text.text)
            offset += len(leaf.text.text) + len(_SEPARATOR)
        joined = _SEPARATOR.join(parts)
        for span in run_rules(self._rules, joined, bounds, known):
            for leaf, (start, end) in zip(batch, bounds, strict=True):
                if span.start < end and span.end > start:
                    leaf.spans.append(
                        Span(
                            max(span.start, start) - start,
                            min(span.end, end) - start,
                            span.entity_type,
                            span.score,
                        )
                    )

    def _scan_names(self, scan: list[_Leaf], deadline: float) -> bool:
        # Only text with a capital letter can hold a name the lists or cues recognize; business
        # fields (product, status, company) hold names of things, not people.
        todo = [
            leaf
            for leaf in scan
            if leaf.text is not None
            and not leaf.business
            and not leaf.text.text.islower()
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
            leaf.spans.extend(
                gazetteer.find_people_and_places(leaf.text.text, self._names, names=self._ner is None)
            )
        return True

    def _propagate(self, scan: list[_Leaf], known: dict[str, str]) -> None:
        """Remove every known sensitive value wherever else it recurs (whole words only)."""
        if not known:
            return
        needles = sorted(known.items(), key=lambda item: -len(item[0]))
        for leaf in scan:
            if leaf.text is None or leaf.whole is not None:
                continue
            text = leaf.text.text
            lowered = text.lower()
            if len(lowered) != len(text):
                lowered = text  # rare: case-folding changed the length; match exact case only
            for needle, entity_type in needles:
                start = lowered.find(needle)
                while start != -1:
                    end = start + len(needle)
                    if (start == 0 or not text[start - 1].isalnum()) and (
                        end == len(text) or not text[end].isalnum()
                    ):
                        leaf.spans.append(Span(start, end, entity_type, 0.9))
                    start = lowered.find(needle, end)

    def _allowed(self, value: str) -> bool:
        return bool(self.config.allow) and value.strip().casefold() in self.config.allow

    # -- output ----------------------------------------------------------------------------------

    def _finish(
        self,
        leaf: _Leaf,
        policy: DisclosurePolicy,
        key: bytes | None,
        counts: Counter[str],
        paths: dict[str, Counter[str]],
    ) -> Any:
        if leaf.whole is not None:
            if leaf.whole in policy.reveal:
                return leaf.value
            counts[leaf.whole] += 1
            paths[leaf.shape][leaf.whole] += 1
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
            counts[span.entity_type] += 1
            paths[leaf.shape][span.entity_type] += 1
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
        result = {}
        for key, item in value.items():
            out = _rebuild(item, outputs)
            if out is not _DROP:
                result[key] = out
        return result
    if isinstance(value, list):
        items = [_rebuild(item, outputs) for item in value]
        return [item for item in items if item is not _DROP]
    return next(outputs)

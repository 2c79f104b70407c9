"""NER with an installed spaCy pipeline, through Presidio's spaCy NLP engine, never downloading.

`DISCRETION_SPACY_MODEL` names an installed spaCy package (`en_core_web_lg`) or a pipeline
directory. Presidio's own engine would download a missing model at load time; this subclass refuses
instead, so the broker never reaches for the network.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import spacy
from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine

from broker.redaction.spans import Span

# spaCy labels that are personal data here. ORG is deliberately absent: organizations are business
# data, not people (and NER tags order numbers and currency codes as ORG).
_LABELS = {
    "PERSON": "PERSON",
    "PER": "PERSON",
    "GPE": "LOCATION",
    "LOC": "LOCATION",
    "FAC": "LOCATION",
    "LOCATION": "LOCATION",
}


class ModelNotInstalled(RuntimeError):
    """The configured spaCy model is not installed (and will not be downloaded)."""


def model_available(name: str) -> bool:
    """True when `name` is an installed spaCy package or a pipeline directory."""
    return spacy.util.is_package(name) or Path(name).is_dir()


class LocalSpacyNlpEngine(SpacyNlpEngine):
    """Presidio's spaCy engine, loading only what is installed."""

    def __init__(self, model: str) -> None:
        config = NerModelConfiguration(
            model_to_presidio_entity_mapping=dict(_LABELS), labels_to_ignore=["ORG", "ORGANIZATION"]
        )
        super().__init__(models=[{"lang_code": "en", "model_name": model}], ner_model_configuration=config)

    def load(self) -> None:
        """Load the configured pipeline; never download."""
        name = self.models[0]["model_name"]
        if not model_available(name):
            raise ModelNotInstalled(f"spaCy model {name!r} is not installed; install it or unset it")
        self.nlp = {"en": spacy.load(name)}  # type: ignore[assignment]  # the base class annotates None


class NerDetector:
    """Person and place spans for a batch of texts, one `pipe` call per payload."""

    def __init__(self, model: str) -> None:
        self.model = model
        self._engine = LocalSpacyNlpEngine(model)
        self._engine.load()

    def find(self, texts: Sequence[str]) -> list[list[Span]]:
        """Spans per text."""
        out: list[list[Span]] = []
        for item in self._engine.process_batch(list(texts), "en", batch_size=64):
            artifacts = item[1]  # (text, artifacts) without as_tuples; the annotation allows three
            spans = []
            for entity, score in zip(artifacts.entities, artifacts.scores, strict=False):
                kind = _LABELS.get(entity.label_)
                if kind is not None:
                    spans.append(Span(entity.start_char, entity.end_char, kind, float(score)))
            out.append(spans)
        return out

"""Discretion: structure-aware, offline redaction of JSON on Presidio.

`Redactor(secret=...).redact(data, DisclosurePolicy(...))` returns the redacted document and a report
of counts by entity type and path (never values). Nothing is loaded at import time beyond the
modules; the name lists load when the first Redactor is built.
"""

from __future__ import annotations

from broker.redaction import entities
from broker.redaction.config import ConfigError, RedactionConfig, load_config, parse_config
from broker.redaction.engine import DisclosurePolicy, RedactionError, RedactionResult, Redactor
from broker.redaction.operators import Operator, pseudonym, recipient_key

__all__ = [
    "ConfigError",
    "DisclosurePolicy",
    "Operator",
    "RedactionConfig",
    "RedactionError",
    "RedactionResult",
    "Redactor",
    "entities",
    "load_config",
    "parse_config",
    "pseudonym",
    "recipient_key",
]

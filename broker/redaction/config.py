"""Deployment recognizers from a config file (YAML or JSON): regex, deny list, allow list, field names.

```yaml
recognizers:
  - type: regex            # a Presidio PatternRecognizer
    entity: EMPLOYEE_ID
    pattern: "EMP-\\d{6}"
    context: [employee]    # optional: then the match counts only after one of these words
  - type: deny_list        # these exact words are always that entity
    entity: PROJECT_CODENAME
    values: [Bluebird, Nightjar]
allow_list: ["support@acme.example"]   # never redacted, wherever found
fields: {employee_id: EMPLOYEE_ID}     # a key that names an entity type
```
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from presidio_analyzer import Pattern, PatternRecognizer

from broker.redaction.patterns import Rule

_ENTITY = re.compile(r"[A-Z][A-Z0-9_]{0,63}")


class ConfigError(ValueError):
    """The recognizer config file is malformed."""


@dataclass(frozen=True, slots=True)
class RedactionConfig:
    """Deployment additions to the built-in detection."""

    rules: tuple[Rule, ...] = ()
    allow: frozenset[str] = frozenset()
    fields: dict[str, str] = field(default_factory=dict)

    def entity_types(self) -> frozenset[str]:
        """The entity types this config adds."""
        return frozenset(rule.entity_type for rule in self.rules) | frozenset(self.fields.values())


def _entity(value: Any) -> str:
    if not isinstance(value, str) or not _ENTITY.fullmatch(value):
        raise ConfigError(f"entity must be an upper-case type name, not {value!r}")
    return value


def _strings(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{what} must be a list of non-empty strings")
    return value


def parse_config(raw: Any) -> RedactionConfig:
    """Validate a loaded config document."""
    if raw is None:
        return RedactionConfig()
    if not isinstance(raw, dict) or set(raw) - {"recognizers", "allow_list", "fields"}:
        raise ConfigError("the config has keys recognizers, allow_list and fields only")
    rules: list[Rule] = []
    for item in raw.get("recognizers") or []:
        if not isinstance(item, dict):
            raise ConfigError("each recognizer is a mapping")
        entity = _entity(item.get("entity"))
        context = " ".join(w.lower() for w in _strings(item.get("context", []), "context"))
        kind = item.get("type")
        if kind == "regex":
            pattern = item.get("pattern")
            if not isinstance(pattern, str) or not pattern:
                raise ConfigError("a regex recognizer needs a pattern")
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ConfigError(f"bad pattern for {entity}: {exc}") from exc
            recognizer = PatternRecognizer(
                supported_entity=entity, patterns=[Pattern(entity, pattern, 0.9)], name=f"config:{entity}"
            )
        elif kind == "deny_list":
            values = _strings(item.get("values"), "values")
            recognizer = PatternRecognizer(supported_entity=entity, deny_list=values, name=f"config:{entity}")
        else:
            raise ConfigError("recognizer type must be regex or deny_list")
        rules.append(Rule.of(recognizer, entity, 1.1 if context else 0.0, context, ""))
    allow = frozenset(v.casefold() for v in _strings(raw.get("allow_list", []), "allow_list"))
    fields_raw = raw.get("fields") or {}
    if not isinstance(fields_raw, dict):
        raise ConfigError("fields maps key names to entity types")
    fields = {str(k).lower(): _entity(v) for k, v in fields_raw.items()}
    return RedactionConfig(rules=tuple(rules), allow=allow, fields=fields)


def load_config(path: Path) -> RedactionConfig:
    """Read and validate a config file (YAML, which includes JSON)."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read redaction config {path}: {exc}") from exc
    return parse_config(raw)

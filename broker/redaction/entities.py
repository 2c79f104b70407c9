"""The entity types the engine can report, so a `reveal` list naming anything else is refused.

A misspelt or invented name (`EMAIL`, `PHONE`) would otherwise reveal nothing, silently. The
deployment's own types (from its recognizer config) are added when the config is read.
"""

from __future__ import annotations

import threading

# Every type a built-in field name, recognizer, or fail-closed rule reports (a test keeps this
# list in step with fields.py and patterns.py).
BUILTIN = frozenset(
    {
        "PERSON",
        "LOCATION",
        "DATE_OF_BIRTH",
        "EMAIL_ADDRESS",
        "PHONE_NUMBER",
        "CREDIT_CARD",
        "IBAN_CODE",
        "IP_ADDRESS",
        "US_SSN",
        "US_PASSPORT",
        "US_DRIVER_LICENSE",
        "US_ITIN",
        "UK_NHS",
        "UK_NINO",
        "ES_NIF",
        "ES_NIE",
        "IT_FISCAL_CODE",
        "PL_PESEL",
        "FI_PERSONAL_IDENTITY_CODE",
        "SE_PERSONNUMMER",
        "TR_NATIONAL_ID",
        "DE_TAX_ID",
        "IN_AADHAAR",
        "IN_PAN",
        "SG_NRIC_FIN",
        "AU_TFN",
        "AU_MEDICARE",
        "KR_RRN",
        "TH_TNIN",
        "NG_NIN",
        "ZA_ID_NUMBER",
        "CA_SIN",
        "NATIONAL_ID",
        "ENCODED_CONTENT",
        "UNSCANNED",
    }
)
_registered: set[str] = set()
_lock = threading.Lock()


class UnknownEntityType(ValueError):
    """A name that is no entity type this broker reports."""


def register(types: set[str] | frozenset[str]) -> None:
    """Add a deployment's own entity types (from its recognizer config)."""
    with _lock:
        _registered.update(types)


def known() -> frozenset[str]:
    """Every entity type a `reveal` list may name."""
    return BUILTIN | frozenset(_registered)


def check(name: str) -> str:
    """`name` if it is a known entity type, else UnknownEntityType listing the valid names."""
    valid = known()
    if name not in valid:
        raise UnknownEntityType(f"unknown entity type {name!r}; valid types: {', '.join(sorted(valid))}")
    return name

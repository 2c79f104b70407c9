"""What replaces a value the recipient may not see: a typed placeholder, a mask, or a keyed pseudonym.

Pseudonyms are HMAC-SHA256 under a key derived per recipient and per data subject with HKDF
(RFC 5869) from the broker's redaction secret: one recipient sees the same pseudonym for the same
value of the same user every time; two recipients, or two users' data, give unlinkable ones. A
recipient that can also have data disclosed to itself (its operator is a user) therefore cannot
confirm a guess about another user's value by comparing pseudonyms.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from enum import StrEnum

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_HKDF_SALT = b"discretion/pseudonym/v2"
_NOT_ALNUM = re.compile(r"[\W_]+")
_SPACES = re.compile(r"\s+")
# Types whose values differ only in punctuation: "+1 415-555-0132" and "+14155550132" are one value.
_PUNCTUATION_FREE = frozenset({"PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN", "UK_NHS"})


class Operator(StrEnum):
    """How a redacted value is replaced."""

    REPLACE = "replace"  # <EMAIL_ADDRESS>
    MASK = "mask"  # ********, same length
    DROP = "drop"  # the field (or list element) is removed
    PSEUDONYM = "pseudonym"  # <EMAIL_ADDRESS_3f1a9c0d5b2e7f64>, keyed per recipient


def recipient_key(secret: bytes, recipient: str, subject: str = "") -> bytes:
    """The 32-byte pseudonym key of one recipient for one data subject.

    HKDF-SHA256(secret, info = len(recipient) || recipient || subject): the length prefix keeps
    ("ab", "c") and ("a", "bc") apart.
    """
    if not recipient:
        raise ValueError("pseudonyms need a recipient id")
    who = recipient.encode()
    info = len(who).to_bytes(2, "big") + who + subject.encode()
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=info)
    return hkdf.derive(secret)


def canonical_value(entity_type: str, value: str) -> str:
    """The form of a value that pseudonyms are computed over (case, spacing and punctuation folded)."""
    folded = _SPACES.sub(" ", value.strip()).casefold()
    if entity_type in _PUNCTUATION_FREE:
        return _NOT_ALNUM.sub("", folded)
    return folded


def pseudonym(key: bytes, entity_type: str, value: str) -> str:
    """A stable, typed pseudonym for one recipient."""
    message = entity_type.encode() + b"\x00" + canonical_value(entity_type, value).encode()
    digest = hmac.new(key, message, hashlib.sha256).hexdigest()[:16]
    return f"<{entity_type}_{digest}>"


def replacement(operator: Operator, entity_type: str, value: str, key: bytes | None) -> str:
    """The text that stands for a redacted value (DROP is handled by the caller)."""
    if operator is Operator.MASK:
        return "*" * max(len(value), 1)
    if operator is Operator.PSEUDONYM:
        if key is None:
            raise ValueError("pseudonyms need a recipient key")
        return pseudonym(key, entity_type, value)
    return f"<{entity_type}>"

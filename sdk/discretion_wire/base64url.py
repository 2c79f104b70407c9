"""Unpadded base64url (RFC 7515 section 2), strict: one byte string has exactly one spelling."""

from __future__ import annotations

import base64
import re

__all__ = ["b64url_decode", "b64url_encode"]

_ALPHABET = re.compile(r"[A-Za-z0-9_-]*")


def b64url_encode(data: bytes) -> str:
    """Encode bytes as unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode unpadded base64url, raising ValueError for padding, any other character or stray bits."""
    # The standard decoder skips characters outside the alphabet and ignores unused trailing bits;
    # both would give one byte string many accepted spellings.
    if len(text) % 4 == 1 or not _ALPHABET.fullmatch(text):
        raise ValueError("not unpadded base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64url_encode(data) != text:
        raise ValueError("not the canonical base64url spelling")
    return data

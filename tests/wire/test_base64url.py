"""Unpadded base64url (RFC 7515 section 2): one byte string, one accepted spelling."""

from __future__ import annotations

import base64

import pytest
from discretion_wire import b64url_decode, b64url_encode
from hypothesis import given
from hypothesis import strategies as st


@given(st.binary(max_size=100))
def test_round_trip_without_padding(data: bytes) -> None:
    text = b64url_encode(data)
    assert "=" not in text
    assert text == base64.urlsafe_b64encode(data).decode().rstrip("=")
    assert b64url_decode(text) == data


@pytest.mark.parametrize(
    "text",
    [
        "AA==",  # padding
        "AAA=",
        "A",  # a length no encoding has
        "AAAAA",
        "AA+/",  # the standard alphabet's characters
        "A A=",
        "AA\n",
        "AB",  # stray bits: "AA" is the spelling of b"\0"
        "AAB",
        "QUJD\u00e9",
    ],
)
def test_anything_but_the_one_canonical_spelling_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="base64url"):
        b64url_decode(text)


def test_the_empty_string_is_the_empty_byte_string() -> None:
    assert b64url_decode("") == b""
    assert b64url_encode(b"") == ""

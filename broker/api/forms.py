"""Strict parsing of OAuth form bodies (application/x-www-form-urlencoded)."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import Request

from broker.errors import InvalidRequest

MAX_FIELDS = 32
FORM_TYPE = "application/x-www-form-urlencoded"


async def read_form(request: Request) -> dict[str, str]:
    """The form's parameters; a repeated parameter is an error (RFC 6749 section 3.2)."""
    return parse_form(request.headers.get("content-type", ""), await request.body())


def parse_form(content_type: str, raw: bytes) -> dict[str, str]:
    """A form body's parameters, given its Content-Type header (empty if absent)."""
    if content_type.split(";")[0].strip().lower() != FORM_TYPE:
        raise InvalidRequest(f"the body must be {FORM_TYPE}")
    try:
        text = raw.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequest("the form body is malformed") from exc
    form: dict[str, str] = {}
    for name, value in pairs:
        if "\x00" in name or "\x00" in value:
            # No parameter can hold one, and PostgreSQL text cannot store one (a 503 otherwise).
            raise InvalidRequest("the form body contains a NUL character")
        if name in form:
            raise InvalidRequest(f"parameter {name} is repeated")
        form[name] = value
    return form

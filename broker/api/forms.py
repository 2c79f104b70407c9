"""Strict parsing of OAuth form bodies (application/x-www-form-urlencoded)."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import Request

from broker.errors import InvalidRequest

MAX_FIELDS = 32


async def read_form(request: Request) -> dict[str, str]:
    """The form's parameters; a repeated parameter is an error (RFC 6749 section 3.2)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise InvalidRequest("the body must be application/x-www-form-urlencoded")
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequest("the form body is malformed") from exc
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise InvalidRequest(f"parameter {name} is repeated")
        form[name] = value
    return form

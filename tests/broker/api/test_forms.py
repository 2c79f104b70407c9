"""The token endpoint's form parser gives parse_qsl's verdicts (strict, blank values kept), and
refuses a NUL character anywhere."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from broker.api.forms import FORM_TYPE, MAX_FIELDS, parse_form
from broker.errors import InvalidRequest


def _reference(raw: bytes) -> dict[str, str] | str:
    # What the endpoint did with parse_qsl before it had its own parser.
    try:
        text = raw.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError):
        return "refused"
    form: dict[str, str] = {}
    for name, value in pairs:
        # Since then: a NUL anywhere is refused (PostgreSQL text cannot hold one).
        if name in form or "\x00" in name or "\x00" in value:
            return "refused"
        form[name] = value
    return form


def _ours(raw: bytes) -> dict[str, str] | str:
    try:
        return parse_form(FORM_TYPE, raw)
    except InvalidRequest:
        return "refused"


_FORM_BYTES = st.lists(
    st.sampled_from(
        [b"a", b"b", b"=", b"&", b"+", b"%", b"%2", b"%20", b"%3D", b"%26", b"%C3%A9", b"%FF", b";"]
    )
    | st.binary(max_size=3),
    max_size=12,
).map(b"".join)


@settings(max_examples=3000, deadline=None)
@example(raw=b"")
@example(raw=b"&")
@example(raw=b"a")
@example(raw=b"a=")
@example(raw=b"=a")
@example(raw=b"a=1&")
@example(raw=b"a=1&&b=2")
@example(raw=b"a=1;b=2")
@example(raw=b"a;=1")
@example(raw=b"a=1&a=2")
@example(raw=b"a=1&%61=2")
@example(raw=b"a=b=c")
@example(raw=b"a+b=c+d%2B")
@example(raw=b"a=%FF%FE")
@example(raw=b"a=%00")
@example(raw=b"a\x00=1")
@example(raw=b"a=%zz")
@example(raw=b"\xff=1")
@example(raw=b"&".join(b"p%d=1" % i for i in range(MAX_FIELDS)))
@example(raw=b"&".join(b"p%d=1" % i for i in range(MAX_FIELDS + 1)))
@given(raw=_FORM_BYTES)
def test_forms_get_parse_qsls_verdicts(raw: bytes) -> None:
    assert _ours(raw) == _reference(raw)


@pytest.mark.parametrize("content_type", ["application/json", "", "text/plain; charset=utf-8"])
def test_only_form_bodies_are_read(content_type: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_form(content_type, b"a=1")


def test_the_content_type_may_carry_parameters_and_any_case() -> None:
    assert parse_form("Application/X-WWW-Form-URLEncoded; charset=UTF-8", b"a=%C3%A9") == {"a": "é"}

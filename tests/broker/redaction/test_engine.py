"""The redaction engine: structure, evidence, propagation, false positives, operators, fail-closed."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
import spacy

from broker.redaction import (
    ConfigError,
    DisclosurePolicy,
    Operator,
    RedactionError,
    Redactor,
    parse_config,
)

SECRET = b"s" * 32


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return Redactor(secret=SECRET)


def _text(result: Any) -> str:
    return json.dumps(result.data, ensure_ascii=False)


def test_lists_of_objects_and_field_evidence(redactor: Redactor) -> None:
    data = {
        "customers": [
            {"fullName": "Zyxwa Qorbel", "email": "zq@example.org", "dob": "1990-01-02", "ssn": 536228726},
            {"fullName": "Li Wei", "phone": "+44 20 7946 0958", "active": True, "ip": "10.1.2.3"},
        ]
    }
    result = redactor.redact(data, DisclosurePolicy())
    text = _text(result)
    for value in ("Zyxwa", "zq@example.org", "1990-01-02", "536228726", "Li Wei", "7946", "10.1.2.3"):
        assert value not in text
    assert result.data["customers"][1]["active"] is True
    assert result.report["paths"]["$.customers[*].fullName"] == {"PERSON": 2}


def test_numbers_and_booleans_keyed_as_sensitive_are_redacted(redactor: Redactor) -> None:
    result = redactor.redact({"ssn": 536228726, "phone": 4155550132, "email": True}, DisclosurePolicy())
    assert result.data == {"ssn": "<US_SSN>", "phone": "<PHONE_NUMBER>", "email": "<EMAIL_ADDRESS>"}


def test_value_from_a_field_is_removed_where_it_recurs(redactor: Redactor) -> None:
    data = {"patient": "Zyxwa Qorbel", "notes": ["seen today; zyxwa qorbel is fine", "Qorbel again"]}
    text = _text(redactor.redact(data, DisclosurePolicy()))
    assert "Zyxwa" not in text
    assert "zyxwa" not in text
    assert "Qorbel" not in text


def test_business_data_survives(redactor: Redactor) -> None:
    data = {
        "order_id": "ORD-2024-55812",
        "reference": "Order 4155550132 shipped",
        "amount": 129.99,
        "currency": "USD",
        "product": {"name": "Mercedes Benz Sprinter"},
        "company_name": "Georgia Pacific",
        "status": "INTRODUCTORY",
        "note": "INTRODUCTORY pricing for public libraries, invoice 9434765919",
        "email_verified": True,
    }
    assert redactor.redact(data, DisclosurePolicy()).data == data


def test_context_words_match_whole_words_only(redactor: Redactor) -> None:
    # "lic" in "public" is not the driver's-licence context word.
    assert redactor.redact({"n": "public record D1234567"}, DisclosurePolicy()).data["n"].endswith("D1234567")
    assert "D1234567" not in _text(redactor.redact({"n": "driver license D1234567"}, DisclosurePolicy()))


def test_nhs_needs_its_context(redactor: Redactor) -> None:
    assert redactor.redact({"n": "ref 9434765919"}, DisclosurePolicy()).data == {"n": "ref 9434765919"}
    assert "9434765919" not in _text(redactor.redact({"n": "NHS no 943 476 5919"}, DisclosurePolicy()))


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("write to alice [at] example [dot] com", "alice"),
        ("mail: a\u200blice@example.com", "lice@example"),
        ("ｂｏｂ＠ｅｘａｍｐｌｅ．ｃｏｍ", "ｂｏｂ"),  # noqa: RUF001 (full-width on purpose)
        ("card 4111 1111 1111 1111", "4111"),
        ("IBAN DE89 3704 0044 0532 0130 00", "3704"),
        ("SSN 536-22-8726", "8726"),
        ("call (415) 555-0199 today", "555-0199"),
        ("born 12/03/1985", "1985"),
        ("passport 912803456", "912803456"),
        ("Dear Mr. Okonkwo, thanks", "Okonkwo"),
        ("ship to 221B Baker Street", "Baker"),
    ],
)
def test_detection_in_free_text(redactor: Redactor, text: str, secret: str) -> None:
    assert secret not in _text(redactor.redact({"note": text}, DisclosurePolicy()))


def test_operators(redactor: Redactor) -> None:
    data = {"email": "a@example.com", "items": [{"phone": "+44 20 7946 0958"}, {"sku": "X"}], "n": "ok"}
    assert redactor.redact(data, DisclosurePolicy(operator=Operator.MASK)).data["email"] == "*" * 13
    dropped = redactor.redact(data, DisclosurePolicy(operator=Operator.DROP)).data
    assert dropped == {"items": [{}, {"sku": "X"}], "n": "ok"}
    one = redactor.redact(data, DisclosurePolicy(operator=Operator.PSEUDONYM, recipient="r1")).data
    again = redactor.redact(data, DisclosurePolicy(operator=Operator.PSEUDONYM, recipient="r1")).data
    other = redactor.redact(data, DisclosurePolicy(operator=Operator.PSEUDONYM, recipient="r2")).data
    assert one == again
    assert one["email"] != other["email"]
    assert one["email"].startswith("<EMAIL_ADDRESS_")


def test_reveal_is_per_type(redactor: Redactor) -> None:
    data = {"email": "a@example.com", "name": "Zyxwa Qorbel"}
    result = redactor.redact(data, DisclosurePolicy(reveal=frozenset({"EMAIL_ADDRESS"})))
    assert result.data == {"email": "a@example.com", "name": "<PERSON>"}
    assert result.report["counts"] == {"PERSON": 1}


def test_encoded_blobs_fail_closed(redactor: Redactor) -> None:
    blob = "QWxpY2UgTWFydGluIGxpdmVzIGluIFBhcmlz"  # base64 of a sentence with a name
    digest = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    result = redactor.redact({"a": blob, "b": digest}, DisclosurePolicy())
    assert result.data == {"a": "<ENCODED_CONTENT>", "b": digest}


def test_depth_limit(redactor: Redactor) -> None:
    deep: Any = "x"
    for _ in range(70):
        deep = [deep]
    with pytest.raises(RedactionError):
        redactor.redact(deep, DisclosurePolicy())


def test_time_budget_fails_closed() -> None:
    ticks = iter(range(0, 10_000, 5))
    slow = Redactor(secret=SECRET, time_budget=1.0, clock=lambda: float(next(ticks)))
    result = slow.redact({"a": "call 555-0199", "b": "Hello Zyx", "c": "ok"}, DisclosurePolicy())
    assert result.report["complete"] is False
    assert result.data == {"a": "<UNSCANNED>", "b": "<UNSCANNED>", "c": "ok"}  # "ok" needs no scan


def test_phone_slow_path_input_is_fast(redactor: Redactor) -> None:
    # python-phonenumbers' matcher is quadratic on long separator-laced digit runs; ours is bounded.
    import time

    text = "1-" * 50_000
    start = time.perf_counter()
    redactor.redact({"note": text}, DisclosurePolicy())
    assert time.perf_counter() - start < 2.0


def test_no_network_is_attempted(redactor: Redactor, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    fresh = Redactor(secret=SECRET)
    assert fresh.redact({"n": "x@mail.example.co.uk"}, DisclosurePolicy()).data == {"n": "<EMAIL_ADDRESS>"}


def test_deployment_recognizers() -> None:
    config = parse_config(
        {
            "recognizers": [
                {"type": "regex", "entity": "EMPLOYEE_ID", "pattern": r"EMP-\d{6}"},
                {"type": "deny_list", "entity": "CODENAME", "values": ["Bluebird"]},
            ],
            "allow_list": ["support@acme.example"],
            "fields": {"badge": "EMPLOYEE_ID"},
        }
    )
    redactor = Redactor(secret=SECRET, config=config)
    data = {"n": "EMP-123456 on Bluebird, write support@acme.example", "badge": 77}
    assert redactor.redact(data, DisclosurePolicy()).data == {
        "n": "<EMPLOYEE_ID> on <CODENAME>, write support@acme.example",
        "badge": "<EMPLOYEE_ID>",
    }


@pytest.mark.parametrize(
    "raw",
    [
        {"recognizers": [{"type": "regex", "entity": "lower", "pattern": "x"}]},
        {"recognizers": [{"type": "regex", "entity": "X", "pattern": "("}]},
        {"recognizers": [{"type": "magic", "entity": "X"}]},
        {"unknown": 1},
    ],
)
def test_bad_config_is_refused(raw: Any) -> None:
    with pytest.raises(ConfigError):
        parse_config(raw)


def test_ner_path_with_a_pipeline_built_here(tmp_path: Path) -> None:
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns(  # type: ignore[attr-defined]
        [
            {"label": "PERSON", "pattern": [{"LOWER": "quixa"}, {"LOWER": "vondrel"}]},
            {"label": "GPE", "pattern": "Zorbaville"},
            {"label": "ORG", "pattern": "Acme"},
        ]
    )
    path = tmp_path / "pipeline"
    nlp.to_disk(path)
    redactor = Redactor(secret=SECRET, spacy_model=str(path))
    assert redactor.mode == f"ner:{path}"
    result = redactor.redact({"note": "quixa vondrel of Acme moved to Zorbaville"}, DisclosurePolicy())
    assert result.data == {"note": "<PERSON> of Acme moved to <LOCATION>"}


def test_missing_spacy_model_is_never_downloaded() -> None:
    from broker.redaction.ner import ModelNotInstalled

    with pytest.raises(ModelNotInstalled):
        Redactor(secret=SECRET, spacy_model="en_core_web_lg_not_installed")

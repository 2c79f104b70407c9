"""Detection that generalizes: each class of value that once got through, and each over-redaction."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from broker.redaction import DisclosurePolicy, Operator, Redactor, entities
from broker.redaction.fields import _TYPED, PLACE
from broker.redaction.patterns import default_rules


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return Redactor(secret=b"generalization-test-secret-0123")


def _out(redactor: Redactor, data: Any, **policy: Any) -> tuple[str, dict[str, Any]]:
    result = redactor.redact(data, DisclosurePolicy(**policy))
    return json.dumps(result.data, ensure_ascii=False), result.report


# -- names of any culture and script -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Worked closely with Oyelaran Babatunde on the migration.", "Babatunde"),
        ("The spare keys are with Tawhiri Ngarimu until Friday.", "Ngarimu"),
        ("Quick note from Aigerim Zhaksylykova: she covers my shifts.", "Zhaksylykova"),
        ("Escalated by Ardak Ysqaq uly yesterday.", "uly"),
    ],
)
def test_names_from_no_list_in_free_text(redactor: Redactor, text: str, name: str) -> None:
    out, _ = _out(redactor, {"note": text})
    assert name not in out


@pytest.mark.parametrize(
    "data",
    [
        {"traveler": "Oyelaran Babatunde"},
        {"payment": {"cardholder": "Oyelaran Babatunde"}},
        {"attendees": ["Oyelaran Babatunde", "Tawhiri Ngarimu"]},
        {"team": {"members": ["Oyelaran Babatunde"]}},
        {"booking": {"passengers": [{"display_name": "Oyelaran Babatunde"}]}},
    ],
)
def test_names_in_fields_whose_key_does_not_say_name(redactor: Redactor, data: dict[str, Any]) -> None:
    out, _ = _out(redactor, data)
    assert "Babatunde" not in out
    assert "Ngarimu" not in out


@pytest.mark.parametrize(
    "name", ["王秀英", "李 伟", "محمد العلي", "प्रिया शर्मा", "김민준", "สมชาย ใจดี", "שרה לוי"]
)
def test_names_in_caseless_scripts_inside_latin_text(redactor: Redactor, name: str) -> None:
    out, report = _out(redactor, {"note": f"Meeting with {name} moved to Tuesday."})
    assert name not in out
    assert name.split()[-1] not in out
    assert "Meeting with" in out
    assert "moved to Tuesday." in out
    assert report["complete"] is True


@pytest.mark.parametrize("name", ["Донат Мурманцева", "Λάμπρος Μόσχου", "Արամ Պետրոսյան"])
def test_names_in_cased_non_latin_scripts(redactor: Redactor, name: str) -> None:
    out, _ = _out(redactor, {"note": f"Please call {name} back."})
    assert name.split()[-1] not in out


def test_prose_in_an_unread_script_is_withheld_and_reported_incomplete(redactor: Redactor) -> None:
    prose = "请在明天下午三点之前把合同寄给我们的北京办公室负责人并电话确认收到"
    out, report = _out(redactor, {"note": prose})
    assert prose not in out
    assert report["complete"] is False
    assert any("script" in reason for reason in report["incomplete"])


# -- national identifiers and phones -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value", "entity"),
    [
        ("NI number AB 12 34 56 C on file", "AB 12 34 56 C", "UK_NINO"),
        ("national insurance JG103782A", "JG103782A", "UK_NINO"),
        ("DNI 12345678Z", "12345678Z", "ES_NIF"),
        ("codice fiscale RSSMRA85T10A562S", "RSSMRA85T10A562S", "IT_FISCAL_CODE"),
        ("PESEL 44051401359", "44051401359", "PL_PESEL"),
        ("HETU 131052-308T", "131052-308T", "FI_PERSONAL_IDENTITY_CODE"),
        ("PAN ABCPE1234F", "ABCPE1234F", "IN_PAN"),
    ],
)
def test_national_identifiers(redactor: Redactor, text: str, value: str, entity: str) -> None:
    out, report = _out(redactor, {"note": text})
    assert value not in out
    assert report["counts"].get(entity) == 1, report


def test_a_bare_digit_run_with_a_checksum_but_no_context_is_not_an_identifier(redactor: Redactor) -> None:
    out, _ = _out(redactor, {"note": "invoice 44051401359 paid"})
    assert "44051401359" in out


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("my new number is 07700900123", "07700900123"),
        ("my new number is 07700 900123", "07700 900123"),
        ("text me on 0612345678 after six", "0612345678"),
        ("whatsapp 4155550132", "4155550132"),
    ],
)
def test_phone_numbers_as_bare_digit_runs(redactor: Redactor, text: str, value: str) -> None:
    out, _ = _out(redactor, {"note": text})
    assert value not in out


def test_key_words_are_context_for_a_bare_number(redactor: Redactor) -> None:
    out, _ = _out(redactor, {"reach": "07700900123", "order_number": "0770090012"})
    assert "07700900123" not in out
    assert "0770090012" in out


# -- addresses ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("Ship it to 1600 Pennsylvania Ave NW, Suite 200 please", ["Pennsylvania", "Suite 200"]),
        ("Deliver to Flat 3, 12 Mill Lane, Leeds", ["Flat 3", "Mill Lane"]),
        ("I moved to Studio 5, 44 Harbour View last week", ["Studio 5", "Harbour View"]),
        ("It never arrived at 1013 Fanning Green\nSpringfield", ["Fanning Green"]),
        ("Apt 4B, 77 Ocean Avenue is the new one", ["Apt 4B", "Ocean Avenue"]),
    ],
)
def test_street_addresses_inside_sentences(redactor: Redactor, text: str, hidden: list[str]) -> None:
    out, _ = _out(redactor, {"note": text})
    for part in hidden:
        assert part not in out


def test_a_uk_address_is_one_location_and_revealing_location_shows_it_all(redactor: Redactor) -> None:
    text = "221B Baker Street, London NW1 6XE"
    _, report = _out(redactor, {"note": text})
    assert "PERSON" not in report["counts"]
    revealed, _ = _out(redactor, {"note": text}, reveal=frozenset({"LOCATION"}))
    assert text in revealed


def test_an_iban_does_not_swallow_the_words_after_it(redactor: Redactor) -> None:
    out, _ = _out(redactor, {"note": "The account DE89 3704 0044 0532 0130 00 is closed."})
    assert out == '{"note": "The account <IBAN_CODE> is closed."}'


# -- personal data as keys ---------------------------------------------------------------------


def test_personal_data_used_as_object_keys(redactor: Redactor) -> None:
    data = {"attendees": {"alice@example.com": "accepted", "Wang Wei": "tentative", "王秀英": "declined"}}
    result = redactor.redact(data, DisclosurePolicy())
    out = json.dumps(result.data, ensure_ascii=False)
    assert "alice@example.com" not in out
    assert "Wang" not in out
    assert "王秀英" not in out
    assert sorted(result.data["attendees"].values()) == ["accepted", "declined", "tentative"]
    assert result.report["counts"], result.report
    assert result.report["complete"] is True
    assert all("alice" not in path for path in result.report["paths"])  # the report holds no key


def test_keys_that_name_fields_are_kept(redactor: Redactor) -> None:
    out, _ = _out(redactor, {"customer": {"firstName": "Ann", "order-id": "A-1"}})
    assert '"firstName"' in out
    assert '"order-id"' in out


def test_a_key_dropped_with_its_value_under_drop(redactor: Redactor) -> None:
    result = redactor.redact(
        {"scores": {"alice@example.com": 3, "total": 3}}, DisclosurePolicy(operator=Operator.DROP)
    )
    assert result.data == {"scores": {"total": 3}}


# -- encoded content ---------------------------------------------------------------------------


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "value",
    [
        "data:text/plain;base64," + _b64("write to jo.mensah@example.com"),
        "see attachment " + _b64("jo.mensah@example.com"),
        "short " + _b64("+44 7700 900123"),
        "hex " + b"jo.mensah@example.com".hex(),
        "link https://example.org/u?m=jo.mensah%40example.com",
    ],
)
def test_encoded_values_are_decoded_and_scanned(redactor: Redactor, value: str) -> None:
    out, _ = _out(redactor, {"note": value})
    encoded = value.split(",")[-1].split()[-1]
    assert encoded not in out
    assert "mensah" not in out


def test_line_wrapped_mime_base64(redactor: Redactor) -> None:
    blob = base64.encodebytes(("Contact Jo Mensah at jo.mensah@example.com. " * 3).encode()).decode()
    assert "\n" in blob.strip()
    out, _ = _out(redactor, {"body": "--b\nContent-Transfer-Encoding: base64\n\n" + blob})
    assert blob.splitlines()[0] not in out


def test_encoded_text_without_personal_data_is_kept(redactor: Redactor) -> None:
    value = "token " + _b64("the quarterly report is ready")
    out, _ = _out(redactor, {"note": value})
    assert value in out


def test_binary_in_a_data_uri_is_withheld_and_reported(redactor: Redactor) -> None:
    png = "data:image/png;base64," + base64.b64encode(bytes(range(256)) * 2).decode()
    out, report = _out(redactor, {"avatar_image": png})
    assert png not in out
    assert report["complete"] is False


def test_json_inside_a_string_is_walked_with_its_keys_as_evidence(redactor: Redactor) -> None:
    inner = json.dumps({"contact": "Oyelaran Babatunde", "reach": "07700900123", "ref": "PO123"})
    result = redactor.redact({"payload": inner}, DisclosurePolicy())
    walked = json.loads(result.data["payload"])
    assert walked == {"contact": "<PERSON>", "reach": "<PHONE_NUMBER>", "ref": "PO123"}


def test_a_json_escaped_name_is_replaced_whole(redactor: Redactor) -> None:
    raw = 'note: {\\"name\\": \\"J\\u00f6rg M\\u00fcller\\"} and J\\u00f6rg M\\u00fcller again'
    out, _ = _out(redactor, {"log": raw, "customer": {"name": "Jörg Müller"}})
    assert "\\u00f6" not in out
    assert "ller" not in out


def test_card_numbers_with_dots(redactor: Redactor) -> None:
    out, report = _out(redactor, {"note": "card 4111.1111.1111.1111 exp 09/29"})
    assert "4111" not in out
    assert report["counts"] == {"CREDIT_CARD": 1}


@pytest.mark.parametrize(
    "account",
    ["BE71096123456769", "AT611904300234573201", "ES9121000418450200051332", "PL61109010140000071219812874"],
)
def test_iban_without_spaces_before_a_short_word(redactor: Redactor, account: str) -> None:
    # Presidio's IBAN pattern, run case-insensitively, also takes the word after it ("is"); the
    # checksum then fails on the longer match and the shorter one must be tried.
    result = redactor.redact({"details": f"Transfer to {account} is closed."}, DisclosurePolicy())
    assert result.data == {"details": "Transfer to <IBAN_CODE> is closed."}
    assert result.report["counts"] == {"IBAN_CODE": 1}


@pytest.mark.parametrize("room", ["Room 4.12", "Boardroom B", "Atrium", "Everest", "Conference Room A"])
def test_a_meeting_room_under_location_is_kept(redactor: Redactor, room: str) -> None:
    result = redactor.redact({"title": "Vendor sync", "location": room}, DisclosurePolicy())
    assert result.data["location"] == room
    assert result.report["counts"] == {}


@pytest.mark.parametrize(
    "place",
    ["221B Baker Street, London NW1 6XE", "Hauptstraße 5, 10115 Berlin", "Paris", "51.5034, -0.1276"],
)
def test_a_place_under_location_is_withheld_whole(redactor: Redactor, place: str) -> None:
    data = {"title": "Vendor sync", "location": place, "note": f"see you at {place}"}
    result = redactor.redact(data, DisclosurePolicy())
    assert result.data["location"] == "<LOCATION>"
    assert place not in result.data["note"]  # what the location held is removed where it recurs


# -- the types reveal may name -----------------------------------------------------------------


def test_every_reported_type_is_a_known_entity_type() -> None:
    # PLACE marks a key whose value is scanned; what it reports is LOCATION.
    produced = {rule.entity_type for rule in default_rules()} | set(_TYPED.values()) - {PLACE}
    assert produced <= entities.BUILTIN, sorted(produced - entities.BUILTIN)


def test_unknown_entity_type_lists_the_valid_ones() -> None:
    with pytest.raises(entities.UnknownEntityType, match="EMAIL_ADDRESS"):
        entities.check("EMAIL")
    assert entities.check("UK_NINO") == "UK_NINO"


@pytest.mark.parametrize(
    ("text", "street"),
    [
        ("Ship replacement to Spetsvägen 843, Malmö.", "Spetsvägen"),
        ("arrived at 338 Rytterhegnet\nKøbenhavn 2100.", "Rytterhegnet"),
        ("goes to al. Zielińska 741, Kraków, 30-001 per request", "Zielińska"),
        ("Ακαδημίας 492, Αθήνα", "Ακαδημίας"),
    ],
)
def test_a_street_of_any_language_with_a_house_number_ending_a_part(
    redactor: Redactor, text: str, street: str
) -> None:
    out, report = _out(redactor, {"note": text})
    assert street not in out
    assert report["counts"]["LOCATION"] >= 1


@pytest.mark.parametrize(
    "text",
    ["Upgrade to Windows 11, then reboot", "Meeting in Room 4.12, bring a laptop", "version 2.3, build 5"],
)
def test_ordinary_words_beside_a_number_are_no_street(redactor: Redactor, text: str) -> None:
    out, report = _out(redactor, {"note": text})
    assert text in out
    assert report["counts"] == {}


def test_a_capitalized_at_before_an_identifier_is_no_email_obfuscation(redactor: Redactor) -> None:
    # " AT " is read as "@" only before a domain; here it is the first letters of a UK NINO.
    out, report = _out(redactor, {"notes": "document AT 76 58 12 C."})
    assert "76 58" not in out
    assert report["counts"] == {"UK_NINO": 1}


@pytest.mark.parametrize(
    "data",
    [
        {"home_location": "Room 4B"},
        {"currentLocation": "Everest base camp"},
        {"customer": {"name": "Wang Wei", "location": "Room 4B"}},
    ],
)
def test_a_persons_own_location_is_withheld_whole(redactor: Redactor, data: dict[str, Any]) -> None:
    out, report = _out(redactor, data)
    assert "Room 4B" not in out
    assert "Everest" not in out
    assert report["counts"]["LOCATION"] == 1

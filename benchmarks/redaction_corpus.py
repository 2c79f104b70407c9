# ruff: noqa: E501  (templates and data tables read better on one line)
"""A labelled redaction corpus that the engine's own data does not produce, in a tuning and a test split.

People, addresses and emails come from mimesis, whose data is independent of the Faker lists the
engine loads; phone numbers are drawn at random until python-phonenumbers calls them valid, cards
and IBANs carry their checksums, and national identifiers are built here with theirs. The two
splits share no locale, no template and no seed: tune on `tune`, report `test`. A third split,
`holdout` (benchmarks/redaction_holdout.py), was written later from other sources and phrasing and
frozen before it was first run: it is reported, never tuned on.

Each record is `Case(kind, data, sensitive, controls)`: `sensitive` is a list of (entity, value)
pairs, each of which must not survive in the output; `controls` are values that must survive.
"""

from __future__ import annotations

import base64
import json
import random
import re
import string
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import phonenumbers
from mimesis import Address, Finance, Locale, Person

from benchmarks.redaction_data.names import NAMES

# No locale is in both splits. Scripts: Latin, Cyrillic, Greek, Han, Kana, Hangul, Arabic.
TUNE_LOCALES = ["en", "de", "fr", "es", "it", "pl", "ru", "zh", "ar-sa", "sv", "da"]
TEST_LOCALES = [
    "en-gb",
    "en-au",
    "nl",
    "pt-br",
    "tr",
    "cs",
    "fi",
    "hu",
    "el",
    "uk",
    "ko",
    "ja",
    "fa",
    "kk",
    "ar-eg",
    "is",
]
TUNE_REGIONS = ["US", "DE", "FR", "ES", "IT", "PL", "SE"]
TEST_REGIONS = ["GB", "AU", "NL", "BR", "TR", "CZ", "FI", "HU", "IN", "KR", "JP", "ZA", "MX", "NG"]
# Names in scripts mimesis has no locale for (hand-written, test split only).
OTHER_SCRIPT_NAMES = [
    "प्रिया शर्मा",
    "अमित वर्मा",
    "সুমন দাস",
    "ரமேஷ் குமார்",
    "สมชาย ใจดี",
    "שרה לוי",
    "ნინო ბერიძე",
    "Արամ Պետրոսյան",
    "阮文安",
    "ስምኦን ተስፋዬ",
]


@dataclass
class Case:
    kind: str
    data: Any
    sensitive: list[tuple[str, str]]
    controls: list[str]


# -- identifiers with checksums ------------------------------------------------------------------


def luhn_digit(body: str) -> str:
    total = 0
    for index, char in enumerate(reversed(body)):
        digit = int(char)
        if index % 2 == 0:
            digit *= 2
            digit -= 9 if digit > 9 else 0
        total += digit
    return str((10 - total % 10) % 10)


def card(rng: random.Random) -> str:
    prefix, length = rng.choice([("4", 16), ("51", 16), ("55", 16), ("37", 15), ("6011", 16)])
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    number = body + luhn_digit(body)
    sep = rng.choice([" ", "-", ".", ""])
    if length == 15:
        return sep.join([number[:4], number[4:10], number[10:]])
    return sep.join(number[i : i + 4] for i in range(0, 16, 4))


_IBAN_SHAPES = {
    "DE": "n18",
    "GB": "a4n14",
    "FR": "n23",
    "NL": "a4n10",
    "ES": "n20",
    "IT": "a1n22",
    "BE": "n12",
    "AT": "n16",
    "CH": "n17",
    "PL": "n24",
    "PT": "n21",
    "IE": "a4n14",
    "FI": "n14",
    "DK": "n14",
}


def iban(rng: random.Random, countries: list[str]) -> str:
    country = rng.choice(countries)
    bban = ""
    for kind, count in re.findall(r"([an])(\d+)", _IBAN_SHAPES[country]):
        alphabet = string.ascii_uppercase if kind == "a" else string.digits
        bban += "".join(rng.choice(alphabet) for _ in range(int(count)))
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    check = 98 - int(numeric) % 97
    value = f"{country}{check:02d}{bban}"
    return " ".join(value[i : i + 4] for i in range(0, len(value), 4)) if rng.random() < 0.6 else value


def nino(rng: random.Random) -> str:
    first = rng.choice("ABCEGHJKLMNOPRSTWXYZ") + rng.choice("ABCEGHJKLMNPRSTWXYZ")
    while first in ("GB", "NK", "TN", "ZZ", "BG", "KN", "NT"):
        first = rng.choice("ABCEHJKLMPRSTWY") + rng.choice("ABCEHJKLMPRSTWY")
    digits = "".join(rng.choice(string.digits) for _ in range(6))
    suffix = rng.choice("ABCD")
    if rng.random() < 0.5:
        return f"{first} {digits[:2]} {digits[2:4]} {digits[4:]} {suffix}"
    return f"{first}{digits}{suffix}"


def es_nif(rng: random.Random) -> str:
    number = rng.randint(10_000_000, 99_999_999)
    return f"{number}{'TRWAGMYFPDXBNJZSQVHLCKE'[number % 23]}"


def pesel(rng: random.Random) -> str:
    year, month, day = rng.randint(50, 99), rng.randint(1, 12), rng.randint(1, 28)
    body = f"{year:02d}{month:02d}{day:02d}" + "".join(rng.choice(string.digits) for _ in range(4))
    weights = [1, 3, 7, 9, 1, 3, 7, 9, 1, 3]
    check = (10 - sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 10) % 10
    return body + str(check)


def fi_hetu(rng: random.Random) -> str:
    day, month, year = rng.randint(1, 28), rng.randint(1, 12), rng.randint(50, 99)
    serial = rng.randint(2, 899)
    number = int(f"{day:02d}{month:02d}{year:02d}{serial:03d}")
    return f"{day:02d}{month:02d}{year:02d}-{serial:03d}{'0123456789ABCDEFHJKLMNPRSTUVWXY'[number % 31]}"


def in_pan(rng: random.Random) -> str:
    letters = "".join(rng.choice(string.ascii_uppercase) for _ in range(3))
    return f"{letters}P{rng.choice(string.ascii_uppercase)}{rng.randint(1000, 9999)}{rng.choice(string.ascii_uppercase)}"


def us_ssn(rng: random.Random) -> str:
    area = rng.choice([n for n in range(1, 900) if n != 666])
    return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


def sg_nric(rng: random.Random) -> str:
    digits = [rng.randint(0, 9) for _ in range(7)]
    total = sum(d * w for d, w in zip(digits, [2, 7, 6, 5, 4, 3, 2], strict=True))
    return "S" + "".join(map(str, digits)) + "JZIHGFEDCBA"[total % 11]


def it_fiscal(rng: random.Random) -> str:
    odd_values = [
        1,
        0,
        5,
        7,
        9,
        13,
        15,
        17,
        19,
        21,
        1,
        0,
        5,
        7,
        9,
        13,
        15,
        17,
        19,
        21,
        2,
        4,
        18,
        20,
        11,
        3,
        6,
        8,
    ]
    odd_values += [12, 14, 16, 10, 22, 25, 24, 23]
    odd = dict(zip(string.digits + string.ascii_uppercase, odd_values, strict=True))
    even = {c: (int(c) if c.isdigit() else ord(c) - 65) for c in string.digits + string.ascii_uppercase}
    body = "".join(rng.choice("BCDFGHLMNPRSTVZ") for _ in range(6))
    body += f"{rng.randint(40, 99):02d}" + rng.choice("ABCDEHLMPRST") + f"{rng.randint(1, 28):02d}"
    body += rng.choice("ABCDEFGHILM") + f"{rng.randint(100, 999)}"
    total = sum(odd[c] if i % 2 == 0 else even[c] for i, c in enumerate(body))
    return body + chr(65 + total % 26)


def phone(rng: random.Random, region: str) -> tuple[str, str]:
    """(as written, the bare national digits) for a valid number of the region."""
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    national = str(example.national_number)
    for _ in range(200):
        digits = national[:3] + "".join(rng.choice(string.digits) for _ in range(len(national) - 3))
        number = phonenumbers.parse("+" + str(example.country_code) + digits, None)
        if phonenumbers.is_valid_number(number):
            break
    style = rng.choice(["intl", "national", "e164", "bare", "bare"])
    if style == "intl":
        text = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    elif style == "national":
        text = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    elif style == "e164":
        text = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    else:
        text = "".join(
            c
            for c in phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
            if c.isdigit()
        )
    return text, style


# -- non-personal controls ------------------------------------------------------------------------

PRODUCTS = {
    "tune": [
        "Aurora Desk Lamp",
        "Nimbus Backpack 30L",
        "Vector Mouse",
        "Polar Thermos",
        "Cascade Shower Head",
    ],
    "test": [
        "Harbor Lantern Mini",
        "Summit Trekking Poles",
        "Quartz Wall Clock",
        "Orbit Webcam HD",
        "Granite Cutting Board",
        "Meridian Travel Adapter",
    ],
}
STATUSES = {
    "tune": ["open", "resolved", "waiting on customer"],
    "test": ["escalated", "closed", "in review", "Approved"],
}


def control_order(rng: random.Random, split: str) -> str:
    if split == "tune":
        return f"ORD-{rng.randint(100000, 999999)}"
    return rng.choice(
        [f"PO{rng.randint(10**7, 10**8 - 1)}", f"INV/{rng.randint(2020, 2026)}/{rng.randint(1000, 9999)}"]
    )


def amount(rng: random.Random) -> str:
    return f"{rng.randint(3, 4000)}.{rng.randint(0, 99):02d}"


# -- the records ----------------------------------------------------------------------------------


class Maker:
    def __init__(self, split: str, seed: int) -> None:
        self.split = split
        self.rng = random.Random(seed)
        locales = TUNE_LOCALES if split == "tune" else TEST_LOCALES
        self.people = [Person(Locale(loc), seed=seed + i) for i, loc in enumerate(locales)]
        self.addresses = [Address(Locale(loc), seed=seed + i) for i, loc in enumerate(locales)]
        self.english_addresses = [
            Address(Locale(loc), seed=seed + 50)
            for loc in (["en"] if split == "tune" else ["en-gb", "en-au", "en-ca"])
        ]
        self.finance = Finance(seed=seed)
        self.regions = TUNE_REGIONS if split == "tune" else TEST_REGIONS
        self.ibans = (
            ["DE", "FR", "ES", "IT", "PL", "AT", "CH"]
            if split == "tune"
            else ["GB", "NL", "BE", "PT", "IE", "FI", "DK"]
        )

    def name(self) -> str:
        if self.split == "test" and self.rng.random() < 0.08:
            return self.rng.choice(OTHER_SCRIPT_NAMES)
        if self.split == "tune" and self.rng.random() < 0.1:
            return self.rng.choice(NAMES)
        return self.rng.choice(self.people).full_name()

    def email(self) -> str:
        return self.rng.choice(self.people).email()

    def phone(self) -> tuple[str, str]:
        if self.rng.random() < 0.3:
            return self.rng.choice(self.people).phone_number(), "written"
        return phone(self.rng, self.rng.choice(self.regions))

    def street(self) -> tuple[str, str, str]:
        source = self.rng.choice(self.english_addresses if self.rng.random() < 0.6 else self.addresses)
        return source.address(), source.city(), source.postal_code()

    def national_id(self) -> tuple[str, str]:
        makers: dict[str, Callable[[random.Random], str]] = {
            "US_SSN": us_ssn,
            "UK_NINO": nino,
            "ES_NIF": es_nif,
            "PL_PESEL": pesel,
            "FI_PERSONAL_IDENTITY_CODE": fi_hetu,
            "IN_PAN": in_pan,
            "SG_NRIC_FIN": sg_nric,
            "IT_FISCAL_CODE": it_fiscal,
        }
        entity = self.rng.choice(sorted(makers))
        return entity, makers[entity](self.rng)

    def case(self) -> Case:
        kinds = [
            self.message,
            self.ticket,
            self.hr,
            self.payment,
            self.travel,
            self.calendar,
            self.nested,
            self.log,
        ]
        return self.rng.choice(kinds)()

    # Templates differ per split: the test split's phrasing is never seen while tuning.

    def message(self) -> Case:
        a, b = self.name(), self.name()
        tel, _ = self.phone()
        mail = self.email()
        if self.split == "tune":
            text = f"Hi {a}, I spoke with {b} yesterday. Call me on {tel} or write to {mail}."
        else:
            text = self.rng.choice(
                [
                    f"Worked closely with {b} on the migration; {a} can vouch. My new number is {tel}, mail {mail}.",
                    f"{a} says the spare keys are with {b}. Text {tel} if anything changes, or {mail}.",
                    f"Quick note from {a}: {b} will cover my shifts. Reach me at {tel}.",
                ]
            )
        return Case(
            "message",
            {"from": mail, "body": text, "channel": "chat"},
            [("PERSON", a), ("PERSON", b), ("PHONE_NUMBER", tel), ("EMAIL_ADDRESS", mail)],
            ["chat"],
        )

    def ticket(self) -> Case:
        customer = self.name()
        street, city, postcode = self.street()
        order = control_order(self.rng, self.split)
        product = self.rng.choice(PRODUCTS[self.split])
        status = self.rng.choice(STATUSES[self.split])
        if self.split == "tune":
            text = f"Customer {customer} reports {product} damaged on arrival, order {order}. Ship replacement to {street}, {city}."
        else:
            text = self.rng.choice(
                [
                    f"The {product} from {order} never arrived at {street}\n{city} {postcode}. Requested by {customer}.",
                    f"Replacement for {order} ({product}) goes to {street}, {city}, {postcode} per {customer}'s request.",
                ]
            )
        data = {"ticket": {"status": status, "requester": customer, "description": text, "product": product}}
        return Case("ticket", data, [("PERSON", customer), ("LOCATION", street)], [order, product, status])

    def hr(self) -> Case:
        employee, manager = self.name(), self.name()
        entity, ident = self.national_id()
        dept = self.rng.choice(["Finance", "Logistics", "Research"])
        if self.split == "tune":
            data = {
                "employee": {"full_name": employee, "tax_id": ident, "department": dept},
                "manager": manager,
                "note": f"{employee} joined {dept}; ID {ident} verified by {manager}.",
            }
        else:
            data = {
                "record": {
                    "staff": [employee],
                    "reports_to": {"display": manager},
                    "unit": dept,
                    "remarks": f"Identification number {ident} on file for {employee}, approved by {manager}.",
                }
            }
        return Case("hr", data, [("PERSON", employee), ("PERSON", manager), (entity, ident)], [dept])

    def payment(self) -> Case:
        holder = self.name()
        number = card(self.rng)
        account = iban(self.rng, self.ibans)
        total = amount(self.rng)
        if self.split == "tune":
            data = {
                "card_number": number,
                "holder_name": holder,
                "iban": account,
                "amount": total,
                "memo": f"Refund {total} EUR to {account}.",
            }
        else:
            data = {
                "payment": {
                    "cardholder": holder,
                    "pan_text": f"card {number} exp 09/29",
                    "amount": total,
                    "details": f"Transfer to {account} is closed. Amount {total}.",
                }
            }
        return Case(
            "payment", data, [("PERSON", holder), ("CREDIT_CARD", number), ("IBAN_CODE", account)], [total]
        )

    def travel(self) -> Case:
        traveler, companion = self.name(), self.name()
        entity, ident = self.national_id()
        flight = f"{self.rng.choice(['BA', 'LH', 'KL', 'TK'])} {self.rng.randint(100, 999)}"
        tel, _ = self.phone()
        if self.split == "tune":
            data = {
                "passenger": traveler,
                "flight": flight,
                "contact_phone": tel,
                "notes": f"{traveler} travels with {companion}; document {ident}.",
            }
        else:
            data = {
                "booking": {
                    "traveler": traveler,
                    "segments": [{"flight": flight}],
                    "companions": [companion],
                    "emergency": f"if delayed ring {tel}",
                    "docs": f"passport check done, national ID {ident}",
                }
            }
        return Case(
            "travel",
            data,
            [("PERSON", traveler), ("PERSON", companion), (entity, ident), ("PHONE_NUMBER", tel)],
            [flight],
        )

    def calendar(self) -> Case:
        host, guest = self.name(), self.name()
        mail = self.email()
        room = self.rng.choice(["Room 4.12", "Boardroom B", "Atrium"])
        if self.split == "tune":
            data = {"event": "Quarterly review", "organizer": host, "room": room, "invitees": [guest, mail]}
            # A `location` key holds a room as often as an address: both forms, tuning split only.
            if self.rng.random() < 0.5:
                data["location"] = self.rng.choice(
                    ["Room 2.07", "Board Room", "Kilimanjaro", "Level 5 lounge"]
                )
                controls = [room, data["location"]]
            else:
                street, city, _ = self.street()
                data["location"] = f"{street}, {city}"
                return Case(
                    "calendar",
                    data,
                    [("PERSON", host), ("PERSON", guest), ("EMAIL_ADDRESS", mail), ("LOCATION", street)],
                    [room],
                )
            return Case(
                "calendar", data, [("PERSON", host), ("PERSON", guest), ("EMAIL_ADDRESS", mail)], controls
            )
        data = {
            "title": "Vendor sync",
            "attendees": {mail: "accepted", guest: "tentative"},
            "location": room,
            "agenda": f"{host} presents, {guest} takes notes",
        }
        return Case("calendar", data, [("PERSON", host), ("PERSON", guest), ("EMAIL_ADDRESS", mail)], [room])

    def nested(self) -> Case:
        person = self.name()
        mail = self.email()
        tel, _ = self.phone()
        inner = json.dumps(
            {"contact": person, "reach": tel, "email": mail}, ensure_ascii=self.rng.random() < 0.5
        )
        encoded = base64.b64encode(mail.encode()).decode()
        order = control_order(self.rng, self.split)
        if self.split == "tune":
            data = {"payload": inner, "attachment": encoded, "order": order}
            sensitive = [
                ("PERSON", person),
                ("PHONE_NUMBER", tel),
                ("EMAIL_ADDRESS", mail),
                ("ENCODED", encoded),
            ]
        else:
            quoted = urllib.parse.quote(mail)
            hexed = mail.encode().hex()
            data = {
                "event": {
                    "raw": inner,
                    "link": f"https://example.org/u?m={quoted}",
                    "blob": f"data:text/plain;base64,{encoded}",
                    "trace": hexed,
                    "ref": order,
                }
            }
            sensitive = [
                ("PERSON", person),
                ("PHONE_NUMBER", tel),
                ("EMAIL_ADDRESS", mail),
                ("ENCODED", encoded),
                ("ENCODED", quoted),
                ("ENCODED", hexed),
            ]
        return Case("nested", data, sensitive, [order])

    def log(self) -> Case:
        mail = self.email()
        ip = f"{self.rng.randint(11, 223)}.{self.rng.randint(0, 255)}.{self.rng.randint(0, 255)}.{self.rng.randint(1, 254)}"
        user = self.name()
        request = f"req-{self.rng.randint(10**9, 10**10 - 1):x}"
        if self.split == "tune":
            line = f"2026-03-01T10:00:00Z INFO login ok user={mail} ip={ip} id={request}"
        else:
            line = f"WARN auth: failed attempt for '{user}' <{mail}> from {ip} [{request}]"
        sensitive = [("EMAIL_ADDRESS", mail), ("IP_ADDRESS", ip)] + (
            [("PERSON", user)] if self.split == "test" else []
        )
        return Case(
            "log", {"line": line, "level": "INFO" if self.split == "tune" else "WARN"}, sensitive, [request]
        )


def build(split: str, count: int, seed: int) -> list[Case]:
    """`count` cases of the split (`tune`, `test` or the frozen `holdout`)."""
    if split == "holdout":
        from benchmarks.redaction_holdout import build_holdout  # it imports `Case` from here

        return build_holdout(count, seed)
    if split not in ("tune", "test"):
        raise ValueError("split is tune, test or holdout")
    maker = Maker(split, seed)
    return [maker.case() for _ in range(count)]

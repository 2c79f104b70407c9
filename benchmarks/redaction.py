"""Redaction quality and speed: this engine against vanilla Presidio, same records, same run.

Vanilla Presidio is AnalyzerEngine (default recognizers) + AnonymizerEngine on every string leaf.
Its default NLP engine needs en_core_web_lg, which is not installed and must not be downloaded, so
the baseline runs with Presidio's model-free NoOpNlpEngine: its figures are for pattern recognizers
only (no NER), which is faster than with a model (docs quote 13-15 records/s with en_core_web_lg).

Leak rate: labelled sensitive values that survive verbatim in the output. Over-redaction: control
values (order numbers, amounts, products, statuses) that do not survive verbatim.

    .venv/bin/python benchmarks/redaction.py [--records 600] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")  # vanilla Presidio: no fetch

from faker import Faker

from benchmarks.redaction_data.names import NAMES
from broker.redaction import DisclosurePolicy, Redactor

LOCALES = ["en_US", "en_GB", "fr_FR", "de_DE", "es_ES", "it_IT", "nl_NL", "pt_BR", "pl_PL", "tr_TR"]
PRODUCTS = [
    "Widget Pro 3000",
    "Trail Runner 2",
    "Ergo Chair XL",
    "UltraHD Monitor 27",
    "Smart Kettle",
    "Noise Cancelling Headphones",
    "Standing Desk Frame",
    "Espresso Grinder",
    "Yoga Mat Plus",
]
STATUSES = ["shipped", "pending", "delivered", "cancelled", "refunded", "on hold"]


def make_record(fake: Faker, rng: random.Random) -> tuple[dict[str, Any], list[str], list[str]]:
    """One labelled record: (data, sensitive values, control values)."""
    name = rng.choice(NAMES) if rng.random() < 0.4 else fake.name()
    staff = rng.choice(NAMES) if rng.random() < 0.5 else fake.name()
    email = fake.email()
    phone = fake.phone_number()
    street = fake.street_address()
    city = fake.city()
    ssn = fake.ssn() if rng.random() < 0.5 else None
    card = fake.credit_card_number()
    iban = fake.iban()
    ip = fake.ipv4_public()
    dob = fake.date_of_birth().isoformat()
    order = f"ORD-{rng.randint(2019, 2026)}-{rng.randint(10000, 99999)}"
    amount = f"{rng.randint(5, 2000)}.{rng.randint(0, 99):02d}"
    product = rng.choice(PRODUCTS)
    status = rng.choice(STATUSES)
    invoice = str(rng.randint(1_000_000_000, 9_999_999_999))
    note = (
        f"{name} called about order {order} ({amount} EUR, invoice {invoice}). "
        f"Reach them at {phone} or {email}. Ship the {product} to {street}. "
        f"Handled by {staff}."
    )
    data: dict[str, Any] = {
        "order_id": order,
        "status": status,
        "customer": {
            "name": name,
            "email": email,
            "phone": phone,
            "dob": dob,
            "address": {"street": street, "city": city},
        },
        "payment": {"card_number": card, "iban": iban, "amount": amount},
        "items": [{"product": {"name": product}, "qty": rng.randint(1, 5), "status": status}],
        "client_ip": ip,
        "notes": [note],
    }
    sensitive = [name, staff, email, phone, street, card, iban, ip, dob]
    if ssn:
        data["customer"]["ssn"] = ssn
        data["notes"].append(f"SSN on file: {ssn}.")
        sensitive.append(ssn)
    controls = [order, amount, product, status, invoice]
    return data, sensitive, controls


def score(outputs: list[str], labels: list[tuple[list[str], list[str]]]) -> tuple[float, float]:
    """Leak rate and over-redaction, in percent."""
    leaks = total = destroyed = controls = 0
    for text, (sensitive, control) in zip(outputs, labels, strict=True):
        for value in sensitive:
            total += 1
            leaks += value in text
        for value in control:
            controls += 1
            destroyed += value not in text
    return 100 * leaks / total, 100 * destroyed / controls


def vanilla(records: list[dict[str, Any]]) -> tuple[list[str], float]:
    """AnalyzerEngine + AnonymizerEngine on every string leaf (NoOp NLP engine: no model offline)."""
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NoOpNlpEngine
    from presidio_anonymizer import AnonymizerEngine

    nlp = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "none"}])
    nlp.load()
    analyzer, anonymizer = AnalyzerEngine(nlp_engine=nlp), AnonymizerEngine()

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, str):
            return anonymizer.anonymize(value, analyzer.analyze(value, language="en")).text  # type: ignore[arg-type]
        return value

    start = time.perf_counter()
    outputs = [json.dumps(walk(r), ensure_ascii=False) for r in records]
    return outputs, len(records) / (time.perf_counter() - start)


def ours(records: list[dict[str, Any]]) -> tuple[list[str], float]:
    """This engine, with no spaCy model (the offline gazetteer mode)."""
    redactor = Redactor(secret=b"benchmark-secret-0123456789abcdef")
    redactor.redact(records[0], DisclosurePolicy())  # warm the shape cache and the lists
    start = time.perf_counter()
    outputs = [json.dumps(redactor.redact(r, DisclosurePolicy()).data, ensure_ascii=False) for r in records]
    return outputs, len(records) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=600)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    Faker.seed(args.seed)
    fake = Faker(LOCALES)
    made = [make_record(fake, rng) for _ in range(args.records)]
    records = [m[0] for m in made]
    labels = [(m[1], m[2]) for m in made]
    size = sum(len(json.dumps(r)) for r in records) / len(records)
    print(
        f"{len(records)} records, {size:.0f} characters each on average, {len(LOCALES)} Faker locales "
        f"+ {len(NAMES)} hand-written names"
    )
    ours_out, ours_rate = ours(records)
    base_out, base_rate = vanilla(records)
    rows = [
        ("discretion (no spaCy model)", ours_out, ours_rate),
        ("vanilla Presidio (NoOp NLP)", base_out, base_rate),
    ]
    print(f"{'engine':30} {'leak %':>8} {'over-redaction %':>17} {'records/s':>10}")
    for label, outputs, rate in rows:
        leak, over = score(outputs, labels)
        print(f"{label:30} {leak:8.2f} {over:17.2f} {rate:10.1f}")
    print(
        f"speed-up: {ours_rate / base_rate:.1f}x (target >= 20x); targets: leak <= 1 %, over-redaction <= 2 %"
    )


if __name__ == "__main__":
    main()

"""Candidate offline detectors, each measured on the tuning split before it was adopted or not.

For every labelled person name or street in the split's free text, does the candidate flag it
(recall), how often does it flag a control value (product, status, room...) instead, how long does a
text take, and how much memory does loading it cost. Candidates that are not installed are skipped;
install them by hand to reproduce (`pip install pyap usaddress probablepeople names-dataset`): none
is a dependency of the broker.

    .venv/bin/python benchmarks/redaction_candidates.py [--records 300]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.redaction_corpus import Case, build


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        yield value


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _pyap() -> Callable[[str], list[str]]:
    import pyap

    def find(text: str) -> list[str]:
        found = []
        for country in ("US", "GB", "CA"):
            found += [str(a.full_address) for a in pyap.parse(text, country=country)]
        return found

    return find


def _usaddress() -> Callable[[str], list[str]]:
    import usaddress

    def find(text: str) -> list[str]:
        parts = usaddress.parse(text)
        keep = {"AddressNumber", "StreetName", "StreetNamePostType", "OccupancyType", "OccupancyIdentifier"}
        return [" ".join(token for token, label in parts if label in keep)]

    return find


def _probablepeople() -> Callable[[str], list[str]]:
    import probablepeople

    def find(text: str) -> list[str]:
        try:
            tagged, kind = probablepeople.tag(text)
        except probablepeople.RepeatedLabelError:
            return []
        return [" ".join(tagged.values())] if kind == "Person" else []

    return find


def _names_dataset() -> Callable[[str], list[str]]:
    from names_dataset import NameDataset

    data = NameDataset()

    def find(text: str) -> list[str]:
        words = [w.strip(".,;:'\"") for w in text.split()]
        return [
            w
            for w in words
            if w[:1].isupper() and (data.search(w).get("first_name") or data.search(w).get("last_name"))
        ]

    return find


def _ours() -> Callable[[str], list[str]]:
    from broker.redaction import gazetteer

    data = gazetteer.name_data()

    def find(text: str) -> list[str]:
        return [text[s.start : s.end] for s in gazetteer.find_people_and_places(text, data)]

    return find


CANDIDATES: dict[str, tuple[str, Callable[[], Callable[[str], list[str]]]]] = {
    "pyap (addresses)": ("LOCATION", _pyap),
    "usaddress (addresses)": ("LOCATION", _usaddress),
    "probablepeople (names)": ("PERSON", _probablepeople),
    "names-dataset (names)": ("PERSON", _names_dataset),
    "discretion gazetteer (names)": ("PERSON", _ours),
    "discretion gazetteer (addresses)": ("LOCATION", _ours),
}


def measure(
    name: str, entity: str, loader: Callable[[], Callable[[str], list[str]]], cases: list[Case]
) -> None:
    before, start = _rss_mb(), time.perf_counter()
    try:
        find = loader()
    except ImportError:
        print(f"{name:34} not installed")
        return
    load_s, load_mb = time.perf_counter() - start, _rss_mb() - before
    hits = total = false = controls = texts = 0
    start = time.perf_counter()
    for case in cases:
        strings = list(_strings(case.data))
        found = [f for text in strings for f in find(text)]
        texts += len(strings)
        joined = " | ".join(found)
        for kind, value in case.sensitive:
            if kind == entity:
                total += 1
                hits += all(word in joined for word in value.split() if len(word) > 2 and not word.isdigit())
        for value in case.controls:
            controls += 1
            false += any(word in joined for word in value.split() if len(word) > 2)
    per_text = 1e6 * (time.perf_counter() - start) / max(1, texts)
    print(
        f"{name:34} recall {100 * hits / max(1, total):6.1f} %  "
        f"controls hit {100 * false / max(1, controls):5.1f} %  "
        f"{per_text:8.0f} us/text  load {load_s:5.2f} s  +{load_mb:5.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=300)
    args = parser.parse_args()
    cases = build("tune", args.records, 11)
    print(f"tuning split, {len(cases)} records ({json.dumps(cases[0].data)[:60]}...)")
    for name, (entity, loader) in CANDIDATES.items():
        measure(name, entity, loader, cases)


if __name__ == "__main__":
    main()

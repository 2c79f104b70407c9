"""Regenerate policy/data/iso3166.json from the ISO 3166 tables in the installed `pycountry` package
(which ships the Debian iso-codes data). Run from the repository root:

    .venv/bin/python scripts/generate_iso3166.py

The policy package reads the JSON, never pycountry: it stays standard library only. The territories a
country covers (DEPENDENCIES) are those ISO 3166-2 lists among that country's subdivisions while
ISO 3166-1 also gives them a country code of their own; each one is checked against the data here.
"""

from __future__ import annotations

import importlib.metadata
import json
import pathlib
import sys

import pycountry

# ISO 3166-1 code -> the ISO 3166-2 entry that lists it under its sovereign country.
DEPENDENCIES = {
    "AS": "US-AS", "GU": "US-GU", "MP": "US-MP", "PR": "US-PR", "UM": "US-UM", "VI": "US-VI",
    "BL": "FR-BL", "MF": "FR-MF", "NC": "FR-NC", "PF": "FR-PF", "PM": "FR-PM", "TF": "FR-TF",
    "WF": "FR-WF", "GP": "FR-971", "MQ": "FR-972", "GF": "FR-973", "RE": "FR-974", "YT": "FR-976",
    "AW": "NL-AW", "CW": "NL-CW", "SX": "NL-SX", "BQ": "NL",
    "HK": "CN-HK", "MO": "CN-MO", "TW": "CN-TW",
    "SJ": "NO", "AX": "FI-01",
}  # fmt: skip


def main() -> int:
    subdivisions = {s.code: s.parent_code or "" for s in pycountry.subdivisions}
    countries = {c.alpha_2: c.alpha_3 for c in pycountry.countries}
    names = {c.alpha_2: getattr(c, "common_name", None) or c.name for c in pycountry.countries}
    for territory, sovereign in DEPENDENCIES.items():
        assert territory in countries, territory
        assert sovereign in subdivisions or sovereign in countries, sovereign
    version = importlib.metadata.version("pycountry")
    year, month, day = (int(part) for part in version.split(".")[:3])  # pycountry versions are dates
    data = {
        "source": "ISO 3166-1 and ISO 3166-2 as shipped in the Debian iso-codes tables of the "
        f"pycountry package {version} (https://pypi.org/project/pycountry/)",
        "date": f"{2000 + year:04d}-{month:02d}-{day:02d}",
        "generated_by": "scripts/generate_iso3166.py",
        "countries": dict(sorted(countries.items())),
        "country_names": dict(sorted(names.items())),
        "subdivisions": dict(sorted(subdivisions.items())),
        "dependencies": dict(sorted(DEPENDENCIES.items())),
    }
    out = pathlib.Path(__file__).resolve().parent.parent / "policy" / "data" / "iso3166.json"
    out.write_text(json.dumps(data, ensure_ascii=False, indent=0, sort_keys=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Locales as a hierarchy: countries cover subdivisions and dependent territories; groups their members."""

from __future__ import annotations

import importlib.resources
import json

import pytest

from policy import EntryKind, ListEntry, ListMode, Party, Role, check_parties, locales


def _party(locale: str) -> Party:
    return Party(client_id="a", organization="o", locale=locale, role=Role.REQUESTER)


@pytest.mark.parametrize("territory", ["PR", "GU", "VI", "AS", "MP", "UM", "US-PR", "US-CA", "US-UM"])
def test_a_country_covers_its_subdivisions_and_dependent_territories(territory: str) -> None:
    assert locales.covers("US", territory)


@pytest.mark.parametrize(
    ("entry", "locale"),
    [
        ("GB", "GB-ENG"),
        ("GB", "GB-LND"),
        ("GB-ENG", "GB-LND"),
        ("GB-ENG", "GB-CAM"),
        ("FR", "PF"),
        ("PR", "US-PR"),
    ],
)
def test_coverage_follows_the_iso_parent_chain(entry: str, locale: str) -> None:
    assert locales.covers(entry, locale)


@pytest.mark.parametrize(
    ("entry", "locale"),
    [("GB-ENG", "GB-SCT"), ("GB-LND", "GB-ENG"), ("US-CA", "US"), ("PR", "US"), ("US", "CA"), ("US", "FR")],
)
def test_coverage_does_not_go_sideways_or_up(entry: str, locale: str) -> None:
    assert not locales.covers(entry, locale)


def test_groups_cover_their_members_and_not_other_territories_of_a_member() -> None:
    assert locales.covers("EU", "DE-BY")
    assert locales.covers("EU", "GP")  # an outermost region is in the Union
    assert not locales.covers("EU", "PF")  # an overseas territory of France is not
    assert locales.covers("EEA", "NO")
    assert not locales.covers("EU", "NO")
    assert locales.covers("EU-ADEQUACY", "JP")
    assert locales.covers("EU-ADEQUACY", "GB-LND")
    assert not locales.covers("EU-ADEQUACY", "CN")


def test_group_files_name_their_source_and_date() -> None:
    for name in locales.GROUP_FILES:
        data = json.loads(importlib.resources.files("policy.data").joinpath(name).read_text("utf-8"))
        assert data["source"].startswith("https://")
        assert len(data["as_of"]) == 10
        assert data["members"]
        assert all(m in locales._tables().countries for m in data["members"])
    source, date = locales.data_source()
    assert "pycountry" in source
    assert len(date) == 10


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("us", "US"),
        ("USA", "US"),
        (" gb-lnd ", "GB-LND"),
        ("eu", "EU"),
        ("Eu-Adequacy", "EU-ADEQUACY"),
        ("FRA", "FR"),
    ],
)
def test_accepted_forms_normalize(typed: str, canonical: str) -> None:
    assert locales.normalize(typed) == canonical


@pytest.mark.parametrize("typed", ["UK", "XX", "US-XX", "Europe", "U S", "", "GB-", "EL"])
def test_unknown_or_ambiguous_codes_are_refused_naming_the_accepted_forms(typed: str) -> None:
    with pytest.raises(locales.LocaleError, match="ISO 3166-1 alpha-2 or alpha-3"):
        locales.normalize(typed)


def test_an_agent_is_not_attested_in_a_group() -> None:
    with pytest.raises(locales.LocaleError, match="group"):
        locales.normalize("EU", groups_allowed=False)


def test_a_locale_entry_blocks_through_check_parties() -> None:
    entry = ListEntry("e1", EntryKind.LOCALE, "US")
    assert check_parties([_party("PR")], [entry], ListMode.BLOCKLIST)
    allow_eu = ListEntry("e2", EntryKind.LOCALE, "EU", effect=__import__("policy").Effect.ALLOW)
    assert not check_parties([_party("FR-75C")], [allow_eu], ListMode.ALLOWLIST_ONLY)
    assert check_parties([_party("US-CA")], [allow_eu], ListMode.ALLOWLIST_ONLY)

"""The organization-name skeleton: idempotent, and it folds every confusable pair it ships."""

from __future__ import annotations

import importlib.resources
import unicodedata

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from policy import skeleton
from policy.skeleton import CONFUSABLES_VERSION, LEGAL_SUFFIXES, fold


def _shipped_pairs() -> list[tuple[str, str]]:
    """Every (source, prototype) pair of the shipped confusables.txt, read independently of the code."""
    text = importlib.resources.files("policy.data").joinpath("confusables.txt").read_text("utf-8-sig")
    pairs = []
    for line in text.splitlines():
        data = line.split("#", 1)[0].strip()
        if data:
            source, target, *_ = (f.strip() for f in data.split(";"))
            pairs.append((chr(int(source, 16)), "".join(chr(int(cp, 16)) for cp in target.split())))
    return pairs


PAIRS = _shipped_pairs()


def test_the_shipped_table_is_unicode_orgs_file_with_its_version() -> None:
    text = importlib.resources.files("policy.data").joinpath("confusables.txt").read_text("utf-8-sig")
    assert "# Unicode Security Mechanisms for UTS #39" in text
    assert f"# Version: {CONFUSABLES_VERSION}" in text
    assert len(PAIRS) > 6000


def test_every_confusable_pair_in_the_shipped_data_folds_together() -> None:
    apart = [(hex(ord(s)), t) for s, t in PAIRS if fold(s) != fold(t)]
    assert not apart


# A confusable inside a name, not alone: the whole name must fold the same either way.
@settings(max_examples=500)
@given(
    pair=st.sampled_from(PAIRS),
    before=st.text(alphabet=st.characters(codec="ascii", categories=("L", "N")), min_size=1, max_size=8),
    after=st.text(alphabet=st.characters(codec="ascii", categories=("L", "N")), min_size=1, max_size=8),
)
def test_a_confusable_inside_a_name_does_not_change_its_skeleton(
    pair: tuple[str, str], before: str, after: str
) -> None:
    source, target = pair
    assert skeleton(before + source + after) == skeleton(before + target + after)


@settings(max_examples=1000)
@given(st.text(max_size=40))
def test_skeleton_is_idempotent(name: str) -> None:
    try:
        key = skeleton(name)
    except ValueError:
        return
    assert skeleton(key) == key


@settings(max_examples=300)
@given(st.sampled_from(PAIRS).map(lambda p: p[0] + p[1]) | st.text(max_size=20))
def test_fold_is_a_fixed_point(text: str) -> None:
    assert fold(fold(text)) == fold(text)


@settings(max_examples=300)
@given(st.text(alphabet=st.characters(codec="ascii", categories=("L",)), min_size=1, max_size=20))
def test_case_does_not_matter(name: str) -> None:
    assert skeleton(name.upper()) == skeleton(name.lower())


@settings(max_examples=300)
@given(
    name=st.text(alphabet=st.characters(codec="ascii", categories=("L",)), min_size=1, max_size=12),
    suffix=st.sampled_from(sorted(LEGAL_SUFFIXES)),
    punctuation=st.sampled_from([" ", ", ", ". ", " - "]),
)
def test_a_legal_suffix_does_not_change_a_name(name: str, suffix: str, punctuation: str) -> None:
    assume(skeleton(name) not in {skeleton(s) for s in LEGAL_SUFFIXES})
    assert skeleton(f"{name}{punctuation}{suffix}.") == skeleton(name)
    assert skeleton(f"{name}{punctuation}{suffix.upper()}") == skeleton(name)


@settings(max_examples=300)
@given(
    name=st.text(alphabet=st.characters(codec="ascii", categories=("L",)), min_size=2, max_size=12),
    at=st.integers(1, 11),
    invisible=st.sampled_from(
        ["\u200d", "\u200c", "\u200b", "\u2060", "\ufeff", "\u00ad", "\u200e", "\ufe0f"]
    ),
)
def test_invisible_characters_do_not_change_a_name(name: str, at: int, invisible: str) -> None:
    at = min(at, len(name) - 1)
    assert skeleton(name[:at] + invisible + name[at:]) == skeleton(name)


@pytest.mark.parametrize(
    "spelling",
    [
        "AdCorp",
        "adcorp",
        "AdCorp, Inc.",
        "AdCorp.",
        "AdCorp GmbH",
        "ADCORP S.A.",
        "AdCorp Pty. Ltd.",
        "AdCorp K.K.",
        "AdCorp B.V.",
        "Ad Corp",
        "\u0410dCorp",  # Cyrillic capital A
        "Ad\u200dCorp",  # zero-width joiner
        "\uff21\uff44\uff23\uff4f\uff52\uff50",  # fullwidth
        "AdC0rp",
    ],
)
def test_spellings_of_one_name_share_a_skeleton(spelling: str) -> None:
    assert skeleton(spelling) == skeleton("AdCorp")


def test_different_names_keep_different_skeletons() -> None:
    assert skeleton("AdCorp") != skeleton("AdCorpse")
    assert skeleton("Acme") != skeleton("Acne")
    assert skeleton("AdCorp Inc") != skeleton("Inc")


def test_a_name_without_letters_or_digits_is_refused() -> None:
    for name in ("", "   ", "...", "\u200d\u200d", "-"):
        with pytest.raises(ValueError, match="letter or digit"):
            skeleton(name)


def test_the_skeleton_has_no_marks_or_spaces() -> None:
    key = skeleton("Société Générale S.A.")
    assert " " not in key
    assert not any(unicodedata.combining(c) for c in key)

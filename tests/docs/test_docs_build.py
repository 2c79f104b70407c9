"""The documentation site builds with warnings as errors, and its SDK reference is generated from the
SDK's docstrings (mkdocs + mkdocstrings, mkdocs.yml)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import discretion_sdk
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert "WARNING" not in result.stderr
    return out


def test_every_public_sdk_name_is_in_the_generated_reference(site: Path) -> None:
    page = (site / "sdk-reference" / "index.html").read_text(encoding="utf-8")
    missing = [name for name in discretion_sdk.__all__ if f'id="discretion_sdk.{name}"' not in page]
    assert missing == []


def test_the_reference_carries_the_docstrings(site: Path) -> None:
    page = (site / "sdk-reference" / "index.html").read_text(encoding="utf-8")
    text = re.sub(r"<[^>]+>", "", page)
    # From BrokerClient.token's docstring: the cache and how it follows revocation.
    assert "skips the cache and asks the broker" in text
    assert "retried ONCE" in text
    assert "carries the raw token" in text


def test_every_doc_page_is_in_the_site(site: Path) -> None:
    for page in (ROOT / "docs").glob("*.md"):
        assert (site / page.stem / "index.html").exists(), page.name

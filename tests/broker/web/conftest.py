"""Browser fixtures: a real `discretion serve` process and headless Debian Chromium via Playwright.

Playwright's own browser download is not used (it cannot be fetched here): the tests drive the
system Chromium at /usr/bin/chromium, which .ci/run installs with apt-get when it is missing.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from examples.broker_process import BrokerProcess

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Every page the browser tests visit is saved here (git-ignored); docs/screenshots/ holds a copy
# of one of each, made by copying from this folder.
SCREENSHOTS = Path(__file__).parent / "screenshots"


def _skip_reason() -> str | None:
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        return "no Chromium at /usr/bin/chromium (CI installs it: apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    return None


# Module scope: Playwright's sync API keeps an event loop running in this thread while it is open,
# which would stop later tests from calling asyncio.run.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium for the browser tests of one module."""
    reason = _skip_reason()
    if reason is not None:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    executable = CHROMIUM if CHROMIUM.exists() else Path(shutil.which("chromium") or "")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def broker() -> Iterator[BrokerProcess]:
    """A real broker process on a free loopback port (plain http: cookies are not Secure)."""
    with BrokerProcess() as process:
        yield process


def shot(page: Any, name: str) -> None:
    """Save a full-page screenshot under tests/broker/web/screenshots/."""
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

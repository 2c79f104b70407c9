"""In a real browser, /docs and /redoc render the API without a single request to another host."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from examples.broker_process import BrokerProcess


@pytest.mark.parametrize(("path", "rendered"), [("/docs", ".opblock"), ("/redoc", "[data-section-id]")])
def test_the_api_pages_render_offline(browser: Any, broker: BrokerProcess, path: str, rendered: str) -> None:
    page = browser.new_page()
    seen: list[str] = []
    page.route("**/*", lambda r: _handle(r, broker, seen))
    page.goto(broker.url + path)
    page.wait_for_selector(rendered, timeout=20_000)
    assert "/oauth2/token" in page.content()
    others = [u for u in seen if urlsplit(u).scheme not in ("data", "blob")]
    others = [u for u in others if urlsplit(u).netloc != urlsplit(broker.url).netloc]
    assert others == []
    page.close()


def _handle(route: Any, broker: BrokerProcess, seen: list[str]) -> None:
    url = route.request.url
    seen.append(url)
    if urlsplit(url).scheme in ("data", "blob") or urlsplit(url).netloc == urlsplit(broker.url).netloc:
        route.continue_()
    else:
        # What an offline machine would see: any other host is unreachable.
        route.abort()

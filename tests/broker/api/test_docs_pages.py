"""/docs and /redoc work offline: their assets come from the broker itself, and the pages name no
other host (FastAPI's defaults load Swagger UI from a CDN and ReDoc's fonts from Google)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

# Any absolute or protocol-relative URL in the page's markup (src, href, url(...), script text).
OTHER_HOST = re.compile(r"(?:https?:)?//[A-Za-z0-9.-]+")


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/docs/oauth2-redirect"])
def test_the_page_references_no_other_host(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert OTHER_HOST.findall(response.text) == []
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "connect-src 'self'" in csp


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_every_asset_the_page_loads_is_served_here(client: TestClient, path: str) -> None:
    page = client.get(path).text
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page)
    urls += re.findall(r"""url: ?['"]([^'"]+)['"]""", page)
    assets = [u for u in urls if u.startswith("/docs/assets/")]
    assert assets, "the page loads no local asset"
    for url in assets:
        response = client.get(url)
        assert response.status_code == 200, url
        assert len(response.content) > 1000, url


def test_the_openapi_document_the_page_reads_is_served(client: TestClient) -> None:
    page = client.get("/docs").text
    assert "'/openapi.json'" in page or '"/openapi.json"' in page
    assert client.get("/openapi.json").json()["info"]["title"] == "Discretion broker"


def test_no_validator_badge(client: TestClient) -> None:
    # Swagger UI's validator badge would send the document URL to validator.swagger.io.
    assert '"validatorUrl": null' in client.get("/docs").text

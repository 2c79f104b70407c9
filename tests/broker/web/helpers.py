"""Signing in to the console through a TestClient, and reading the CSRF token off a page."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token in the first form of a page."""
    match = _CSRF.search(html)
    assert match, "no CSRF field on the page"
    return match.group(1)


def sign_in(client: TestClient, key: str) -> str:
    """Sign in with an API key; returns the CSRF token of the landing page."""
    form = client.get("/console/signin")
    assert form.status_code == 200, form.text
    response = client.post(
        "/console/signin", data={"api_key": key, "csrf": csrf_of(form.text)}, follow_redirects=True
    )
    assert response.status_code == 200, response.text
    return csrf_of(response.text)

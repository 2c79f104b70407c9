"""The token endpoint's bare ASGI path answers exactly as the routed endpoint would."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY

from broker.api.token_endpoint import TOKEN_PATH, TokenEndpoint
from tests.conftest import ISSUER, World

FORM = "application/x-www-form-urlencoded"
COMPARED_HEADERS = ("content-type", "cache-control", "pragma", "www-authenticate", "connection")


def _routed_only(world: World) -> Any:
    """The same app (same lifespan, same store) without the TokenEndpoint in front: FastAPI's
    own middleware and router."""
    app: Any = world.client.app

    async def routed(scope: Any, receive: Any, send: Any) -> None:
        await FastAPI.__call__(app, scope, receive, send)

    return routed


def _send(world: World, asgi: Any, kwargs: dict[str, Any]) -> httpx.Response:
    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=asgi)
        async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as http:
            return await http.post(TOKEN_PATH, **kwargs)

    assert world.client.portal is not None
    return world.client.portal.call(post)


Request = Callable[[World], dict[str, Any]]
REQUESTS: dict[str, Request] = {
    "grant": lambda w: {"data": w.token_form(w.travel)},
    "no grant for this agent": lambda w: {"data": w.token_form(w.ads)},
    "json body": lambda w: {
        "content": b'{"grant_type": "x"}',
        "headers": {"Content-Type": "application/json"},
    },
    "no content type": lambda w: {"content": b"grant_type=client_credentials"},
    "repeated parameter": lambda w: {
        "content": b"grant_type=client_credentials&grant_type=client_credentials",
        "headers": {"Content-Type": FORM},
    },
    "two content types": lambda w: {
        "content": b"grant_type=password",
        "headers": [("Content-Type", "application/json"), ("Content-Type", FORM)],
    },
    "not utf-8": lambda w: {"content": b"\xff=\xfe", "headers": {"Content-Type": FORM}},
    "unsupported grant": lambda w: {"data": {"grant_type": "password"}},
    "no client authentication": lambda w: {
        "data": {k: v for k, v in w.token_form(w.travel).items() if not k.startswith("client_assertion")}
    },
    "bad dpop proof": lambda w: {"data": w.token_form(w.travel), "headers": {"DPoP": "not.a.proof"}},
    "two dpop proofs": lambda w: {
        "data": w.token_form(w.travel),
        "headers": [("DPoP", "a.b.c"), ("DPoP", "d.e.f")],
    },
    "oversized": lambda w: {"content": b"a" * (2 * 1024 * 1024), "headers": {"Content-Type": FORM}},
}


def _comparable(response: httpx.Response) -> tuple[int, dict[str, str], Any]:
    body = response.json()
    if response.status_code == 200:
        body = {k: v for k, v in body.items() if k not in ("access_token", "expires_at")}
    headers = {name: response.headers.get(name, "") for name in COMPARED_HEADERS}
    return response.status_code, headers, body


@pytest.mark.parametrize("case", list(REQUESTS))
def test_fast_path_answers_as_the_routed_endpoint(world: World, case: str) -> None:
    world.grant()
    fast = _send(world, world.client.app, REQUESTS[case](world))
    routed = _send(world, _routed_only(world), REQUESTS[case](world))
    assert _comparable(fast) == _comparable(routed)


def test_token_requests_do_not_reach_the_router(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    def routed(*_: Any) -> None:
        raise AssertionError("the routed token endpoint ran")

    monkeypatch.setattr("broker.api.oauth_routes.read_form", routed)
    world.grant()
    response = world.token(world.travel)
    assert response.status_code == 200, response.text
    # Other methods on the path still go to the router: 405, as for any route.
    assert world.client.get(TOKEN_PATH).status_code == 405


def test_token_requests_skip_fastapis_middleware(world: World) -> None:
    # Served ahead of FastAPI's own chain (its error and telemetry layers, ours), not within it.
    world.grant()
    app: Any = world.client.app
    crossed: list[str] = []
    stack = app.middleware_stack

    async def spy(scope: Any, receive: Any, send: Any) -> None:
        crossed.append(scope["path"])
        await stack(scope, receive, send)

    app.middleware_stack = spy
    assert world.token(world.travel).status_code == 200
    assert world.client.get("/live").status_code == 200
    assert crossed == ["/live"]


def _count(status: str) -> float:
    labels = {"method": "POST", "route": TOKEN_PATH, "status": status}
    return REGISTRY.get_sample_value("discretion_http_requests_total", labels) or 0.0


def test_fast_path_counts_requests_by_status(world: World) -> None:
    world.grant()
    ok, refused = _count("200"), _count("400")
    assert world.token(world.travel).status_code == 200
    assert world.client.post(TOKEN_PATH, data={"grant_type": "password"}).status_code == 400
    assert (_count("200"), _count("400")) == (ok + 1, refused + 1)


def test_unexpected_error_is_a_bare_500(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("internal detail /etc/secret")

    monkeypatch.setattr(world.client.app.state.oauth, "issue", broken)  # type: ignore[attr-defined]
    response = world.token(world.travel)
    assert response.status_code == 500
    assert response.json() == {
        "error": "server_error",
        "error_description": "the request could not be processed",
    }
    assert "secret" not in response.text


def test_client_gone_before_the_body_gets_no_answer() -> None:
    class Service:
        async def issue(self, *_: Any, **__: Any) -> None:
            raise AssertionError("a request without a body was issued")

    async def no_app(*_: Any) -> None:
        raise AssertionError("passed on")

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    endpoint = TokenEndpoint(no_app, service=Service(), max_bytes=1024)  # type: ignore[arg-type]
    scope = {"type": "http", "method": "POST", "path": TOKEN_PATH, "headers": []}
    asyncio.run(endpoint(scope, receive, send))
    assert sent == []

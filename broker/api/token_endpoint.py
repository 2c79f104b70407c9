"""POST /oauth2/token as a bare ASGI app, in front of the framework.

The token endpoint is the broker's hot path, and the framework's routing, middleware and
dependency solving were a large share of its CPU. Here it is one coroutine, ahead even of
FastAPI's own outer middleware (`app.BrokerApp`): read the body within the size limit, parse the
form, issue, answer, with the same parsing (`forms.parse_form`), the same refusals
(`errors.response_for`) and the same request metrics as every routed endpoint. Any other method
or path goes on to the app unchanged.
"""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from broker.api.errors import response_for
from broker.api.forms import parse_form
from broker.api.limits import Disconnected, TooLarge, read_body, refuse_too_large
from broker.oauth.endpoint import OAuthService
from broker.observability import LATENCY, REQUESTS

TOKEN_PATH = "/oauth2/token"
_OK_HEADERS = [
    (b"content-type", b"application/json"),
    (b"cache-control", b"no-store"),
    (b"pragma", b"no-cache"),
]


class TokenEndpoint:
    """Serves `POST /oauth2/token`; hands everything else to `app`."""

    def __init__(self, app: ASGIApp, *, service: OAuthService, max_bytes: int) -> None:
        self.app = app
        self._service = service
        self._max_bytes = max_bytes
        self._latency = LATENCY.labels(TOKEN_PATH)
        self._counts: dict[int, Any] = {}  # request counters by status, looked up once each

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != TOKEN_PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        try:
            status = await self._serve(scope, receive, send)
        finally:
            count = self._counts.get(status)
            if count is None:
                count = self._counts[status] = REQUESTS.labels("POST", TOKEN_PATH, str(status))
            count.inc()
            self._latency.observe(time.perf_counter() - started)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> int:
        content_type: str | None = None
        authorization: str | None = None
        proofs: list[str] = []
        for name, value in scope["headers"]:
            if name == b"content-type" and content_type is None:  # the first, as Starlette reads it
                content_type = value.decode("latin-1")
            elif name == b"dpop":
                proofs.append(value.decode("latin-1"))
            elif name == b"authorization" and authorization is None:
                authorization = value.decode("latin-1")
        try:
            raw = await read_body(scope, receive, self._max_bytes)
        except TooLarge:
            await refuse_too_large(scope, receive, send, self._max_bytes)
            return 413
        except Disconnected:
            return 499  # nginx's code for it: nobody is left to answer
        try:
            form = parse_form(content_type or "", raw)
            # On the event loop, not in the thread pool: the work is CPU-bound under the GIL, so a
            # thread hop per request costs more than it overlaps.
            body = await self._service.issue(form, dpop_proofs=proofs)
        except Exception as exc:  # every failure becomes its wire refusal
            response: Any = response_for("POST", TOKEN_PATH, exc, authorization)
            await response(scope, receive, send)
            return int(response.status_code)
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        headers = [*_OK_HEADERS, (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
        return 200

"""Pure ASGI middlewares that refuse, before any route runs, request bodies over the configured size
(413) and a NUL character in the path or query (400)."""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from broker.api.errors import error_response
from broker.errors import PayloadTooLarge


class TooLarge(Exception):
    """The body is over the limit (declared or streamed)."""


class Disconnected(Exception):
    """The client went away before the body was complete; `message` is what the server sent."""

    def __init__(self, message: Message) -> None:
        super().__init__("client disconnected")
        self.message = message


async def read_body(scope: Scope, receive: Receive, max_bytes: int) -> bytes:
    """The whole request body, refusing more than `max_bytes` whether it declares its
    Content-Length or streams in chunks."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length" and (not value.isdigit() or int(value) > max_bytes):
            raise TooLarge()
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise Disconnected(message)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            raise TooLarge()
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def refuse_too_large(scope: Scope, receive: Receive, send: Send, max_bytes: int) -> None:
    """413 in the dialect of the route, closing the connection (the rest of the body is unread)."""
    error = PayloadTooLarge(f"the request body exceeds {max_bytes} bytes")
    response: Any = error_response(
        scope["path"], 413, error.error, error.description, headers={"Connection": "close"}
    )
    await response(scope, receive, send)


class BodySizeLimit:
    """Reads the body (up to the limit) before the app runs, so an oversized body never reaches a
    route."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            body = await read_body(scope, receive, self.max_bytes)
        except TooLarge:
            await refuse_too_large(scope, receive, send, self.max_bytes)
            return
        except Disconnected as gone:
            # Let the app see the disconnect.
            await self.app(scope, _replay([gone.message], receive), send)
            return
        message = {"type": "http.request", "body": body, "more_body": False}
        await self.app(scope, _replay([message], receive), send)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


class NulInTarget:
    """Refuses a path or query string that decodes to a NUL character: no identifier holds one, and
    PostgreSQL text cannot, so it would otherwise reach a query and come back as a 503."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (b"%00" in scope.get("query_string", b"") or "\x00" in scope["path"]):
            response: Any = error_response(
                scope["path"].replace("\x00", ""),
                400,
                "invalid_request",
                "the request target contains a NUL character",
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

"""The one place where refusals become HTTP responses.

OAuth endpoints answer RFC 6749 section 5.2 bodies; `/v1` answers RFC 9457 problem documents. No
response ever carries a stack trace, and every error is `Cache-Control: no-store`.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException

from broker.errors import BrokerError, TemporarilyUnavailable, Unprocessable

log = logging.getLogger(__name__)
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    422: "Unprocessable Content",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 403: "forbidden"}


def is_management_path(path: str) -> bool:
    """`/v1` routes speak problem+json; everything else speaks OAuth error bodies."""
    return path.startswith("/v1/") or path == "/v1"


def error_response(
    path: str,
    status: int,
    error: str,
    description: str,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    """A refusal in the dialect of the route that was called."""
    all_headers = {**_NO_STORE, **(headers or {})}
    if is_management_path(path):
        body = {
            "type": "about:blank",
            "title": _TITLES.get(status, "Error"),
            "status": status,
            "detail": description,
            "error": error,
            **(extra or {}),
        }
        return JSONResponse(
            body, status_code=status, headers=all_headers, media_type="application/problem+json"
        )
    return JSONResponse(
        {"error": error, "error_description": description}, status_code=status, headers=all_headers
    )


def broker_error_response(path: str, exc: BrokerError, authorization: str | None = None) -> JSONResponse:
    """A refusal the broker raised on purpose. `authorization` is the request's Authorization header:
    a 401 after one names the scheme the client used (RFC 6749 section 5.2, RFC 6750 section 3)."""
    headers = dict(exc.headers)
    if exc.status_code == 401:
        if is_management_path(path):
            headers.setdefault("WWW-Authenticate", 'Bearer realm="discretion"')
        elif authorization:
            scheme = authorization.split(" ", 1)[0]
            if scheme.isascii() and scheme.isalnum():  # a token68 scheme name; anything else is not echoed
                headers.setdefault("WWW-Authenticate", f'{scheme} realm="discretion"')
    return error_response(path, exc.status_code, exc.error, exc.description, headers)


def database_error_response(path: str, exc: DBAPIError) -> JSONResponse:
    """Fail closed: the store is the source of truth for keys, grants and the log."""
    log.error("database unavailable: %s", type(exc).__name__)
    unavailable = TemporarilyUnavailable()
    return error_response(path, 503, unavailable.error, unavailable.description)


def unexpected_error_response(method: str, path: str, exc: Exception) -> JSONResponse:
    """A bug: logged with its traceback, answered without one."""
    log.error("unhandled error on %s %s", method, path, exc_info=exc)
    return error_response(path, 500, "server_error", "the request could not be processed")


def response_for(method: str, path: str, exc: Exception, authorization: str | None = None) -> JSONResponse:
    """What any exception out of a route becomes (for code that runs outside the router)."""
    if isinstance(exc, BrokerError):
        return broker_error_response(path, exc, authorization)
    if isinstance(exc, DBAPIError):
        return database_error_response(path, exc)
    return unexpected_error_response(method, path, exc)


async def _broker_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BrokerError)
    return broker_error_response(request.url.path, exc, request.headers.get("authorization"))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Echo where and what, never the submitted value: it may be a key or personal data.
    problems = [{"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", "")} for e in exc.errors()]
    return error_response(
        request.url.path, 422, Unprocessable.error, "the request body is invalid", extra={"errors": problems}
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "invalid_request")
    return error_response(request.url.path, exc.status_code, code, str(exc.detail), dict(exc.headers or {}))


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DBAPIError)
    return database_error_response(request.url.path, exc)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    return unexpected_error_response(request.method, request.url.path, exc)


def install_error_handlers(app: FastAPI) -> None:
    """Register every exception handler on the app."""
    app.add_exception_handler(BrokerError, _broker_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(Exception, _unexpected)

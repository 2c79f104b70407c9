"""The web console: server-rendered pages for users, auditors and admins, served by the broker.

`install(app, settings)` mounts it; see docs/console.md.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from broker.oauth.signing_keys import load_key_encryption_key
from broker.settings import Settings
from broker.web import routes_admin, routes_audit, routes_keys, routes_resilience, routes_session, routes_user
from broker.web.console import (
    PREFIX,
    BadForm,
    Console,
    NotYours,
    SecurityHeaders,
    SignInNeeded,
    console,
    page,
)
from broker.web.sessions import SessionCodec


async def _sign_in_needed(request: Request, exc: Exception) -> Response:
    codec = console(request).codec
    response = Response(status_code=303, headers={"Location": PREFIX + "/signin"})
    if codec.cookie_name in request.cookies:
        response.delete_cookie(
            codec.cookie_name, path="/", secure=codec.secure, httponly=True, samesite="strict"
        )
    return response


async def _not_yours(request: Request, exc: Exception) -> Response:
    return page(
        request,
        "error.html",
        None,
        status=403,
        title="Not for this key",
        message="This page belongs to another role. Sign in with a key that has it.",
    )


async def _bad_form(request: Request, exc: Exception) -> Response:
    return page(
        request,
        "error.html",
        None,
        status=403,
        title="Form refused",
        message="This form did not come from your console session (it may have expired). "
        "Reload the page and try again.",
    )


def install(app: FastAPI, settings: Settings) -> None:
    """Mount the console under /console with its static files, headers and error pages."""
    codec = SessionCodec(load_key_encryption_key(settings), secure=settings.issuer.startswith("https://"))
    app.state.console = Console(codec, settings.issuer)
    for module in (routes_session, routes_user, routes_audit, routes_admin, routes_resilience, routes_keys):
        app.include_router(module.router)
    app.mount(
        PREFIX + "/static", StaticFiles(directory=Path(__file__).parent / "static"), name="console-static"
    )
    app.add_exception_handler(SignInNeeded, _sign_in_needed)
    app.add_exception_handler(NotYours, _not_yours)
    app.add_exception_handler(BadForm, _bad_form)
    app.add_middleware(SecurityHeaders)

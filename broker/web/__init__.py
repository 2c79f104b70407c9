"""The web console: server-rendered pages for users, auditors and admins, served by the broker.

`install(app, settings)` mounts it; see docs/console.md.
"""

from __future__ import annotations

import inspect
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
    Visitor,
    console,
    current_visitor,
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


def _visitor_or_none(request: Request) -> Visitor | None:
    # An error page keeps the navigation of whoever is signed in; if even that cannot be read
    # (the store is down), it is shown without.
    try:
        return current_visitor(request)
    except Exception:
        return None


def _error_page(request: Request, status: int, title: str, message: str) -> Response:
    return page(request, "error.html", _visitor_or_none(request), status=status, title=title, message=message)


async def _not_yours(request: Request, exc: Exception) -> Response:
    return _error_page(
        request, 403, "Not for this key", "This page belongs to another role. Sign in with a key that has it."
    )


async def _bad_form(request: Request, exc: Exception) -> Response:
    return _error_page(
        request,
        403,
        "Form refused",
        "This form did not come from your console session (it may have expired). "
        "Reload the page and try again.",
    )


# What a console error page says, by status; the API's JSON answer is still made first, so that
# whatever it logs (an unexpected error's traceback, a database outage) is logged the same way.
_PAGES = {
    404: ("Not found", "There is no such page in the console."),
    405: ("Not allowed", "This page cannot be used that way."),
    422: ("Request refused", "Something in the address is not valid here (a number out of range?)."),
    503: ("Temporarily unavailable", "The broker cannot reach its database. Try again in a moment."),
}
_OTHER = ("Something went wrong", "The console could not do that. Try again, or go back.")


def _console_path(request: Request) -> bool:
    path = request.url.path
    return (path == PREFIX or path.startswith(PREFIX + "/")) and not path.startswith(PREFIX + "/static/")


def _console_first(app: FastAPI, exc_class: type[Exception]) -> None:
    """Answer `exc_class` under /console with a console page (with the navigation) of the status
    the API's handler chose; elsewhere with the API's JSON, as before."""
    previous = app.exception_handlers.get(exc_class)
    if previous is None:
        return

    async def either(request: Request, exc: Exception) -> Response:
        answer = previous(request, exc)
        response: Response = await answer if inspect.isawaitable(answer) else answer
        if not _console_path(request):
            return response
        title, message = _PAGES.get(response.status_code, _OTHER)
        html = _error_page(request, response.status_code, title, message)
        for name in ("allow", "retry-after"):
            if name in response.headers:
                html.headers[name] = response.headers[name]
        return html

    app.add_exception_handler(exc_class, either)


def install(app: FastAPI, settings: Settings) -> None:
    """Mount the console under /console with its static files, headers and error pages."""
    codec = SessionCodec(load_key_encryption_key(settings), secure=settings.issuer.startswith("https://"))
    app.state.console = Console(codec, settings.issuer)
    for module in (routes_session, routes_user, routes_audit, routes_admin, routes_resilience, routes_keys):
        app.include_router(module.router)
    app.mount(
        PREFIX + "/static", StaticFiles(directory=Path(__file__).parent / "static"), name="console-static"
    )
    # Every error the API answers (not found, invalid, refused, database down, unexpected) becomes
    # a console page under /console.
    for exc_class in [k for k in app.exception_handlers if isinstance(k, type)]:
        _console_first(app, exc_class)
    app.add_exception_handler(SignInNeeded, _sign_in_needed)
    app.add_exception_handler(NotYours, _not_yours)
    app.add_exception_handler(BadForm, _bad_form)
    app.add_middleware(SecurityHeaders)

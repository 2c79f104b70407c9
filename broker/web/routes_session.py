"""Signing in with an API key, signing out, and the role's home page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from broker.services.principals import Role, SignInThrottled, authenticate, end_session, open_session
from broker.web.console import (
    PREFIX,
    BadForm,
    console,
    current_visitor,
    now,
    page,
    read_fields,
    redirect,
    same_origin,
    set_session_cookie,
)
from broker.web.sessions import ABSOLUTE_SECONDS

router = APIRouter(prefix=PREFIX, include_in_schema=False)


def source_address(request: Request) -> str:
    """The caller's address as the server saw it (behind a trusted proxy, the forwarded one)."""
    return request.client.host if request.client is not None else "unknown"


HOMES = {Role.USER: "/grants", Role.AUDITOR: "/audit", Role.ADMIN: "/admin/agents"}
MAX_KEY = 200


@router.get("")
@router.get("/")
def home(request: Request) -> Response:
    """Each role's first page, or the sign-in page."""
    visitor = current_visitor(request)
    if visitor is None:
        return redirect(request, "/signin")
    return redirect(request, HOMES[visitor.role], visitor)


def _signin_page(request: Request, *, status: int = 200, error: str | None = None) -> HTMLResponse:
    codec = console(request).codec
    pre = request.cookies.get(codec.pre_cookie_name)
    if not pre or len(pre) > 64:
        pre = codec.new_pre_session()
    response = page(
        request, "signin.html", None, status=status, error=error, signin_csrf=codec.pre_csrf_token(pre)
    )
    response.set_cookie(
        codec.pre_cookie_name,
        pre,
        max_age=3600,
        path="/",
        httponly=True,
        secure=codec.secure,
        samesite="strict",
    )
    return response


@router.get("/signin")
def signin_form(request: Request) -> Response:
    """The sign-in form."""
    visitor = current_visitor(request)
    if visitor is not None:
        return redirect(request, HOMES[visitor.role], visitor)
    return _signin_page(request)


@router.post("/signin")
async def signin(request: Request) -> Response:
    """Check the API key; on success open a new session (a new id, whatever cookie came in)."""
    codec = console(request).codec
    if not same_origin(request):
        raise BadForm()
    fields = await read_fields(request)
    token = fields.get("csrf", [""])
    if len(token) != 1 or not codec.check_pre_csrf(request.cookies.get(codec.pre_cookie_name), token[0]):
        raise BadForm()
    presented = (fields.get("api_key") or [""])[0].strip()
    principal = None
    ctx = request.app.state.ctx
    try:
        # An empty or oversized key is a failure like any other: it counts against the address.
        principal = authenticate(
            ctx, presented if len(presented) <= MAX_KEY else "", source=source_address(request)
        )
    except SignInThrottled as exc:
        throttled = _signin_page(
            request, status=429, error="Too many failed sign-ins. Wait a few minutes and try again."
        )
        throttled.headers["Retry-After"] = str(exc.retry_after)
        return throttled
    if principal is None:
        # The same answer for an unknown key id and a wrong secret; the key is never echoed.
        return _signin_page(request, status=401, error="That API key is not valid.")
    session, cookie = codec.issue(principal.key_id, now(request))
    open_session(ctx, session.sid, principal.key_id, expires_at=session.issued_at + ABSOLUTE_SECONDS)
    response = RedirectResponse(PREFIX + HOMES[principal.role], status_code=303)
    set_session_cookie(request, response, cookie)
    response.delete_cookie(
        codec.pre_cookie_name, path="/", secure=codec.secure, httponly=True, samesite="strict"
    )
    return response


@router.post("/signout")
async def signout(request: Request) -> Response:
    """End the session in this browser."""
    visitor = current_visitor(request)
    codec = console(request).codec
    if visitor is not None:
        fields = await read_fields(request)
        token = fields.get("csrf", [""])
        if not same_origin(request) or len(token) != 1 or not codec.check_csrf(visitor.session, token[0]):
            raise BadForm()
        # Deleted from the store, not only from this browser: a copy of the cookie dies with it.
        end_session(request.app.state.ctx, visitor.session.sid)
    response = RedirectResponse(PREFIX + "/signin?notice=signed_out", status_code=303)
    response.delete_cookie(codec.cookie_name, path="/", secure=codec.secure, httponly=True, samesite="strict")
    return response

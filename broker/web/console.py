"""The console's plumbing: templates, who is signed in, CSRF-checked forms, security headers."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import jinja2
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from broker.services.principals import Role, session_owner
from broker.web.sessions import ABSOLUTE_SECONDS, IDLE_SECONDS, Session, SessionCodec

PREFIX = "/console"
_HERE = Path(__file__).parent
MAX_FORM_BYTES = 64 * 1024
MAX_FORM_FIELDS = 200
# No inline script or style, nothing from another origin: the page works offline and an injected
# tag has nowhere to load from (CSP Level 3). form-action 'self' stops a form posting elsewhere.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
NOTICES = {
    "signed_out": "You are signed out.",
    "key_revoked": "The API key is revoked; its console sessions are ended.",
    "grant_created": "The grant is in force.",
    "grant_revoked": "The grant is revoked, and every token issued under it.",
    "entry_added": "Added. Live tokens that the list now refuses are revoked.",
    "entry_exists": "That entry was already on your list.",
    "entry_removed": "Removed from your list.",
    "mode_changed": "The list mode is changed.",
    "agent_registered": "The agent is registered.",
    "agent_keys_rotated": "The agent's keys are replaced.",
    "agent_suspended": "The agent is suspended and its live tokens are revoked.",
    "agent_reinstated": "The agent is reinstated.",
    "agent_released": "The agent is released: it may ask for tokens again.",
    "purpose_registered": "The purpose is registered: grants may now list it.",
    "purpose_retired": "The purpose is retired: no new grant or token may name it.",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Visitor:
    """A signed-in person: the session, and the role and principal of its API key as stored now."""

    session: Session
    role: Role
    principal: str
    csrf: str


class SignInNeeded(Exception):
    """No valid session: send the browser to the sign-in page."""


class NotYours(Exception):
    """Signed in, but this page is for another role."""


class BadForm(Exception):
    """A state-changing request without this session's CSRF token, or from another origin."""


@dataclass(frozen=True, slots=True)
class Posted:
    """A CSRF-checked form from a signed-in visitor."""

    visitor: Visitor
    fields: dict[str, list[str]]

    def get(self, name: str, default: str = "") -> str:
        """The first value of a field, stripped."""
        values = self.fields.get(name)
        return values[0].strip() if values else default

    def all(self, name: str) -> list[str]:
        """Every non-empty value of a field (checkboxes, multi-selects)."""
        return [v.strip() for v in self.fields.get(name, []) if v.strip()]

    def with_field(self, name: str, value: str) -> Posted:
        """The same form with one field set to one value."""
        return Posted(self.visitor, {**self.fields, name: [value]})


class Console:
    """The console's per-app state: the session codec and the template environment."""

    def __init__(self, codec: SessionCodec, issuer: str) -> None:
        self.codec = codec
        parts = urlsplit(issuer)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(_HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self.env.filters["when"] = format_time
        self.env.filters["readable"] = readable
        self.env.globals["prefix"] = PREFIX


def format_time(value: float | int | None, millis: bool = False) -> str:
    """Epoch seconds (or milliseconds) as an ISO 8601 UTC time, e.g. 2026-12-03T15:20:41Z."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return "—"
    seconds = value / 1000 if millis else value
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def readable(value: Any) -> str:
    """A value from the log as JSON text (null, true, ["calendar:read"]), never a Python repr;
    a plain string stays as it is."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def console(request: Request) -> Console:
    """The app's console state."""
    return request.app.state.console  # type: ignore[no-any-return]


def now(request: Request) -> float:
    """The broker's clock (movable in tests)."""
    return request.app.state.ctx.clock()  # type: ignore[no-any-return]


def current_visitor(request: Request) -> Visitor | None:
    """The visitor of a valid session whose API key is still live, or None."""
    state = console(request)
    session = state.codec.decode(request.cookies.get(state.codec.cookie_name), now(request))
    if session is None:
        return None
    # The session's row and its key are read on every request, through the store (so on every
    # replica): signing out, or revoking or rotating the key, ends the session at once.
    owner = session_owner(request.app.state.ctx, session.sid, session.key_id)
    if owner is None:
        return None
    return Visitor(
        session=session,
        role=Role(owner.role),
        principal=owner.principal,
        csrf=state.codec.csrf_token(session),
    )


def _require(role: Role) -> Callable[[Request], Visitor]:
    def check(request: Request) -> Visitor:
        visitor = current_visitor(request)
        if visitor is None:
            raise SignInNeeded()
        if visitor.role is not role:
            raise NotYours()
        return visitor

    return check


def same_origin(request: Request) -> bool:
    """False when the browser says the request came from another origin (OWASP: verify origin)."""
    origin = request.headers.get("origin")
    if origin is None:
        # Browsers send Origin on every cross-origin POST; its absence means a same-origin or
        # non-browser client, and the CSRF token still has to match.
        return request.headers.get("sec-fetch-site", "same-origin") in ("same-origin", "none")
    own = f"{request.url.scheme}://{request.url.netloc}"
    return origin in (console(request).origin, own)


async def read_fields(request: Request) -> dict[str, list[str]]:
    """An urlencoded form body as lists of values; anything else is refused."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise BadForm()
    raw = await request.body()
    if len(raw) > MAX_FORM_BYTES:
        raise BadForm()
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadForm() from exc
    fields: dict[str, list[str]] = {}
    for name, value in pairs:
        if "\x00" in name or "\x00" in value:
            raise BadForm()  # PostgreSQL text cannot hold a NUL: refused here, not a 503 later
        fields.setdefault(name, []).append(value)
    return fields


def _posted(role: Role) -> Callable[[Request], Awaitable[Posted]]:
    require = _require(role)

    async def check(request: Request) -> Posted:
        visitor = require(request)
        if not same_origin(request):
            raise BadForm()
        fields = await read_fields(request)
        presented = fields.get("csrf", [""])
        if len(presented) != 1 or not console(request).codec.check_csrf(visitor.session, presented[0]):
            raise BadForm()
        return Posted(visitor, fields)

    return check


def _any_role(request: Request) -> Visitor:
    visitor = current_visitor(request)
    if visitor is None:
        raise SignInNeeded()
    return visitor


AnyVisitor = Annotated[Visitor, Depends(_any_role)]
UserVisitor = Annotated[Visitor, Depends(_require(Role.USER))]
AuditorVisitor = Annotated[Visitor, Depends(_require(Role.AUDITOR))]
AdminVisitor = Annotated[Visitor, Depends(_require(Role.ADMIN))]
UserForm = Annotated[Posted, Depends(_posted(Role.USER))]
AdminForm = Annotated[Posted, Depends(_posted(Role.ADMIN))]
AuditorForm = Annotated[Posted, Depends(_posted(Role.AUDITOR))]


def set_session_cookie(request: Request, response: Response, value: str) -> None:
    """Set the session cookie: HttpOnly, SameSite=Strict, Secure when the issuer is https."""
    codec = console(request).codec
    response.set_cookie(
        codec.cookie_name,
        value,
        max_age=ABSOLUTE_SECONDS,
        path="/",
        httponly=True,
        secure=codec.secure,
        samesite="strict",
    )


def _refresh(request: Request, response: Response, visitor: Visitor | None) -> None:
    # Sliding idle timeout: re-sign the cookie with a new last-seen time, at most once a minute.
    if visitor is None:
        return
    t = now(request)
    if t - visitor.session.seen_at < 60 or t - visitor.session.issued_at > ABSOLUTE_SECONDS - IDLE_SECONDS:
        return
    session = Session(
        sid=visitor.session.sid, key_id=visitor.session.key_id, issued_at=visitor.session.issued_at, seen_at=t
    )
    set_session_cookie(request, response, console(request).codec.encode(session))


def page(
    request: Request, template: str, visitor: Visitor | None, *, status: int = 200, **context: Any
) -> HTMLResponse:
    """Render a page for the visitor."""
    state = console(request)
    notice = NOTICES.get(request.query_params.get("notice", ""))
    html = state.env.get_template(template).render(
        visitor=visitor,
        csrf=visitor.csrf if visitor else "",
        notice=notice,
        request_path=request.url.path,
        **context,
    )
    response = HTMLResponse(html, status_code=status)
    _refresh(request, response, visitor)
    return response


def redirect(request: Request, path: str, visitor: Visitor | None = None, **params: str) -> RedirectResponse:
    """303 See Other after a POST (so reloading does not post again)."""
    target = PREFIX + path + (("?" + urlencode(params)) if params else "")
    response = RedirectResponse(target, status_code=303)
    _refresh(request, response, visitor)
    return response


def values(fields: Iterable[str]) -> list[str]:
    """Split free-text lists on commas, spaces and new lines, dropping blanks."""
    out: list[str] = []
    for text in fields:
        out.extend(part for part in text.replace(",", " ").split() if part)
    return list(dict.fromkeys(out))


class SecurityHeaders:
    """Adds the console's headers (CSP and friends) to every response under /console, and only
    there: the OpenAPI /docs page loads Swagger UI's script and styles, which this CSP forbids."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path == PREFIX or path.startswith(PREFIX + "/")):
            await self.app(scope, receive, send)
            return
        static = path.startswith(PREFIX + "/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control" or static
                ]
                headers += [
                    (b"content-security-policy", CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    # same-origin, not no-referrer: under no-referrer Chromium sends `Origin: null`
                    # on our own form posts (Fetch: serializing a request origin), which the
                    # origin check must then refuse.
                    (b"referrer-policy", b"same-origin"),
                    (b"cross-origin-opener-policy", b"same-origin"),
                    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
                ]
                if not static:
                    # Pages show API keys once and personal activity: never cache them.
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)

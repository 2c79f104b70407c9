"""The API keys page: a signed-in person's own keys (an admin's: every key), with revoke and rotate,
each behind a confirmation page. The new key of a rotation is shown once, on the answer's page."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import Response

from broker.errors import BrokerError
from broker.services.principals import ApiKeyInfo, KeyService, Principal, Role
from broker.web.console import (
    PREFIX,
    AnyVisitor,
    BadForm,
    Visitor,
    console,
    page,
    read_fields,
    redirect,
    same_origin,
)

router = APIRouter(prefix=PREFIX, include_in_schema=False)
_KEY_ID = re.compile(r"[0-9a-f]{16}")
ACTIONS = ("revoke", "rotate")


def _caller(visitor: Visitor) -> Principal:
    return Principal(role=visitor.role, principal=visitor.principal, key_id=visitor.session.key_id)


def _keys(request: Request) -> KeyService:
    return KeyService(request.app.state.ctx)


def _keys_page(
    request: Request, visitor: Visitor, *, status: int = 200, error: str | None = None
) -> Response:
    keys = _keys(request).list_keys(_caller(visitor), everyone=visitor.role is Role.ADMIN)
    return page(
        request, "keys.html", visitor, status=status, error=error, keys=keys, own_key=visitor.session.key_id
    )


def _key_or_none(request: Request, visitor: Visitor, key_id: str) -> ApiKeyInfo | None:
    if not _KEY_ID.fullmatch(key_id):
        return None
    try:
        return _keys(request).get_key(_caller(visitor), key_id)
    except BrokerError:
        return None


async def _checked_form(request: Request, visitor: Visitor) -> dict[str, list[str]]:
    if not same_origin(request):
        raise BadForm()
    fields = await read_fields(request)
    token = fields.get("csrf", [""])
    if len(token) != 1 or not console(request).codec.check_csrf(visitor.session, token[0]):
        raise BadForm()
    return fields


@router.get("/keys")
def keys(request: Request, visitor: AnyVisitor) -> Response:
    """The visitor's API keys (an admin's: every key), newest first."""
    return _keys_page(request, visitor)


@router.get("/keys/{key_id}/{action}")
def confirm(key_id: str, action: str, request: Request, visitor: AnyVisitor) -> Response:
    """Ask before revoking or rotating a key: both end every session opened with it."""
    key = _key_or_none(request, visitor, key_id)
    if action not in ACTIONS or key is None:
        return _keys_page(request, visitor, status=404, error="There is no such API key.")
    return page(
        request,
        "key_confirm.html",
        visitor,
        key=key,
        action=action,
        own=key.key_id == visitor.session.key_id,
    )


@router.post("/keys/{key_id}/revoke")
async def revoke(key_id: str, request: Request, visitor: AnyVisitor) -> Response:
    """Revoke a key at once; when it is the visitor's own, this session ends too."""
    await _checked_form(request, visitor)
    if _key_or_none(request, visitor, key_id) is None:
        return _keys_page(request, visitor, status=404, error="There is no such API key.")
    try:
        _keys(request).revoke(_caller(visitor), key_id, by=visitor.session.key_id)
    except BrokerError as exc:
        return _keys_page(request, visitor, status=exc.status_code, error=exc.description)
    if key_id == visitor.session.key_id:
        return redirect(request, "/signin", None, notice="key_revoked")
    return redirect(request, "/keys", visitor, notice="key_revoked")


@router.post("/keys/{key_id}/rotate")
async def rotate(key_id: str, request: Request, visitor: AnyVisitor) -> Response:
    """Replace a key; the new one is on this page only."""
    fields = await _checked_form(request, visitor)
    if _key_or_none(request, visitor, key_id) is None:
        return _keys_page(request, visitor, status=404, error="There is no such API key.")
    label = (fields.get("label") or [""])[0].strip() or None
    try:
        created, secret = _keys(request).rotate(
            _caller(visitor), key_id, by=visitor.session.key_id, label=label
        )
    except BrokerError as exc:
        return _keys_page(request, visitor, status=exc.status_code, error=exc.description)
    own = key_id == visitor.session.key_id
    # After rotating its own key this session is over: the page is drawn for nobody (no nav, no
    # forms), and says to sign in again with the new key.
    return page(
        request, "key_rotated.html", None if own else visitor, key=created, secret=secret, own=own, old=key_id
    )

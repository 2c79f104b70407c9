"""The admin's pages: agents (register with attested organization and locale, rotate keys, suspend,
reinstate), users and auditors (create them; their API keys are shown once), purposes (register,
retire)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from broker.errors import BrokerError
from broker.services.admin import AdminService
from broker.services.purposes import PurposeService
from broker.web import locales
from broker.web.confirm import ask, confirmed
from broker.web.console import PREFIX, AdminForm, AdminVisitor, Visitor, page, redirect, values

router = APIRouter(prefix=PREFIX + "/admin", include_in_schema=False)
MAX_JWKS = 32 * 1024


def _admin(request: Request) -> AdminService:
    return request.app.state.admin  # type: ignore[no-any-return]


def _agents_page(
    request: Request,
    visitor: Visitor,
    *,
    status: int = 200,
    error: str | None = None,
    form: dict[str, Any] | None = None,
) -> Response:
    agents = sorted(_admin(request).list_agents(), key=lambda a: a.client_id)
    described = [(a, locales.describe(a.locale)) for a in agents]
    return page(
        request,
        "admin_agents.html",
        visitor,
        status=status,
        error=error,
        agents=described,
        form=form or {},
        countries=locales.countries(),
    )


@router.get("/agents")
def agents(request: Request, visitor: AdminVisitor) -> Response:
    """Every agent with its organization, locale and status; the registration form."""
    return _agents_page(request, visitor)


@router.post("/agents")
def register_agent(request: Request, form: AdminForm) -> Response:
    """Register an agent from the form."""
    visitor = form.visitor
    jwks_text = form.get("jwks")
    try:
        if len(jwks_text) > MAX_JWKS:
            raise ValueError("the JWKS is too large")
        jwks = json.loads(jwks_text or "null")
        if not isinstance(jwks, dict):
            raise ValueError("the JWKS must be a JSON object with a keys array")
        for name, limit in (("client_id", 128), ("name", 200), ("organization", 200), ("locale", 8)):
            if not 0 < len(form.get(name)) <= limit:
                raise ValueError(f"{name.replace('_', ' ')} is required (at most {limit} characters)")
        _admin(request).register_agent(
            client_id=form.get("client_id"),
            name=form.get("name"),
            organization=form.get("organization"),
            locale=form.get("locale"),
            jwks=jwks,
            resource_uris=values(form.all("resource_uris")),
            admin=visitor.session.key_id,
        )
    except ValueError as exc:
        return _agents_page(request, visitor, status=422, error=str(exc), form=form.fields)
    except BrokerError as exc:
        return _agents_page(request, visitor, status=exc.status_code, error=exc.description, form=form.fields)
    return redirect(request, "/admin/agents", visitor, notice="agent_registered")


@router.post("/agents/keys")
def rotate_keys(request: Request, form: AdminForm) -> Response:
    """Replace an agent's keys from the form; marking keys compromised asks for confirmation."""
    visitor = form.visitor
    client_id = form.get("client_id")
    compromised = form.get("compromised").split()
    try:
        jwks_text = form.get("jwks")
        if len(jwks_text) > MAX_JWKS:
            raise ValueError("the JWKS is too large")
        jwks = json.loads(jwks_text or "null")
        if not isinstance(jwks, dict):
            raise ValueError("the JWKS must be a JSON object with a keys array")
        if compromised and not confirmed(form):
            return ask(
                request,
                form,
                title=f"Mark {len(compromised)} key(s) of {client_id} compromised?",
                message=f"The keys {', '.join(compromised)} are refused at once, and every live token issued "
                f"to {client_id} that is bound to them (or to no key) is revoked, for every user.",
                button="Mark compromised and replace the keys",
                back="/admin/agents",
            )
        _admin(request).rotate_keys(
            client_id,
            jwks,
            current_kid=form.get("current_kid") or None,
            compromised_kids=compromised,
            admin=visitor.session.key_id,
        )
    except ValueError as exc:
        return _agents_page(request, visitor, status=422, error=str(exc), form=form.fields)
    except BrokerError as exc:
        return _agents_page(request, visitor, status=exc.status_code, error=exc.description, form=form.fields)
    return redirect(request, "/admin/agents", visitor, notice="agent_keys_rotated")


@router.post("/agents/{client_id}/suspend")
def suspend(client_id: str, request: Request, form: AdminForm) -> Response:
    """Suspend an agent (its live tokens are revoked), after a confirmation page."""
    if not confirmed(form):
        agent = next((a for a in _admin(request).list_agents() if a.client_id == client_id), None)
        if agent is None:
            return _agents_page(request, form.visitor, status=404, error="No such agent.")
        return ask(
            request,
            form,
            title=f"Suspend {agent.name}?",
            message=f"{agent.name} ({agent.organization_display}; client id {agent.client_id}) gets no "
            "more tokens, and its live tokens are revoked at once, for every user. You can reinstate it "
            "later.",
            button=f"Suspend {agent.name}",
            back="/admin/agents",
        )
    return _set_suspended(request, form.visitor, client_id, True)


@router.post("/agents/{client_id}/reinstate")
def reinstate(client_id: str, request: Request, form: AdminForm) -> Response:
    """Lift a suspension."""
    return _set_suspended(request, form.visitor, client_id, False)


def _set_suspended(request: Request, visitor: Visitor, client_id: str, suspended: bool) -> Response:
    try:
        _admin(request).set_suspended(client_id, suspended, admin=visitor.session.key_id)
    except BrokerError as exc:
        return _agents_page(request, visitor, status=exc.status_code, error=exc.description)
    return redirect(
        request, "/admin/agents", visitor, notice="agent_suspended" if suspended else "agent_reinstated"
    )


def _people_page(
    request: Request,
    visitor: Visitor,
    *,
    status: int = 200,
    error: str | None = None,
    new_key: dict[str, str] | None = None,
) -> Response:
    users, auditors = request.app.state.console_reads.listings()
    return page(
        request,
        "admin_people.html",
        visitor,
        status=status,
        error=error,
        users=users,
        auditors=auditors,
        new_key=new_key,
    )


@router.get("/people")
def people(request: Request, visitor: AdminVisitor) -> Response:
    """Users and auditors, and the forms that create them."""
    return _people_page(request, visitor)


@router.post("/users")
def create_user(request: Request, form: AdminForm) -> Response:
    """Create a user and show the new API key once."""
    try:
        user, key = _admin(request).create_user(form.get("user_id"), admin=form.visitor.session.key_id)
    except BrokerError as exc:
        return _people_page(request, form.visitor, status=exc.status_code, error=exc.description)
    return _people_page(
        request, form.visitor, status=201, new_key={"who": f"user {user.user_id}", "key": key}
    )


@router.post("/auditors")
def create_auditor(request: Request, form: AdminForm) -> Response:
    """Create an auditor and show the new API key once."""
    try:
        auditor_id, key = _admin(request).create_auditor(form.get("name"), admin=form.visitor.session.key_id)
    except BrokerError as exc:
        return _people_page(request, form.visitor, status=exc.status_code, error=exc.description)
    return _people_page(
        request,
        form.visitor,
        status=201,
        new_key={"who": f"auditor {form.get('name')} ({auditor_id})", "key": key},
    )


# -- purposes -----------------------------------------------------------------------------------


def _purposes(request: Request) -> PurposeService:
    return request.app.state.purposes  # type: ignore[no-any-return]


def _purposes_page(
    request: Request,
    visitor: Visitor,
    *,
    status: int = 200,
    error: str | None = None,
    form: dict[str, Any] | None = None,
) -> Response:
    return page(
        request,
        "admin_purposes.html",
        visitor,
        status=status,
        error=error,
        purposes=_purposes(request).all(),
        form=form or {},
    )


@router.get("/purposes")
def purposes(request: Request, visitor: AdminVisitor) -> Response:
    """The purpose vocabulary and the form to register one."""
    return _purposes_page(request, visitor)


@router.post("/purposes")
def register_purpose(request: Request, form: AdminForm) -> Response:
    """Register a purpose from the form."""
    try:
        _purposes(request).register(
            form.get("code"), form.get("description"), admin=form.visitor.session.key_id
        )
    except BrokerError as exc:
        return _purposes_page(
            request, form.visitor, status=exc.status_code, error=exc.description, form=form.fields
        )
    return redirect(request, "/admin/purposes", form.visitor, notice="purpose_registered")


@router.post("/purposes/retire")
def retire_purpose(request: Request, form: AdminForm) -> Response:
    """Retire a purpose, after a confirmation page."""
    code = form.get("code")
    known = next((p for p in _purposes(request).all() if p.code == code), None)
    if known is None:
        return _purposes_page(request, form.visitor, status=404, error="No such purpose.")
    if not confirmed(form):
        return ask(
            request,
            form,
            title=f"Retire {known.description}?",
            message=f"No new grant may list the purpose {known.code}, and no new token may name it, "
            "including under grants that list it now. It stays listed, and cannot be registered again.",
            button="Retire the purpose",
            back="/admin/purposes",
        )
    try:
        _purposes(request).retire(code, admin=form.visitor.session.key_id)
    except BrokerError as exc:
        return _purposes_page(request, form.visitor, status=exc.status_code, error=exc.description)
    return redirect(request, "/admin/purposes", form.visitor, notice="purpose_retired")

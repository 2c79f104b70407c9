"""The user's pages: grants, blocklist (and allowlist-only mode), activity."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from broker.errors import BrokerError
from broker.services.me import MeService
from broker.services.records import GrantRecord, UserRecord
from broker.validation import parse_whole_number
from broker.web import locales
from broker.web.console import (
    PREFIX,
    AnyVisitor,
    Posted,
    UserForm,
    UserVisitor,
    Visitor,
    now,
    page,
    redirect,
    values,
)
from policy import Effect, EntryKind, ListMode

router = APIRouter(prefix=PREFIX, include_in_schema=False)
REVEAL_CHOICES = (
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "PERSON",
    "LOCATION",
    "DATE_OF_BIRTH",
    "IP_ADDRESS",
    "CREDIT_CARD",
    "IBAN_CODE",
)
REASONS = {
    "granted": "allowed under a grant",
    "unknown_subject": "no such user",
    "no_grant": "no grant covers this agent and resource",
    "scope_not_granted": "asked for more than the grant allows",
    "purpose_mismatch": "the purpose differs from the grant's",
    "grant_expired": "the grant has expired",
    "grant_revoked": "the grant was revoked",
    "lifetime_exhausted": "no lifetime left on the grant",
    "agent_suspended": "the agent is suspended",
    "blocked_agent": "you blocked this agent",
    "blocked_organization": "you blocked this organization",
    "blocked_locale": "you blocked this country or region",
    "not_allowlisted": "not on your allowlist",
    "dpop_required": "the grant requires proof of possession (DPoP)",
    "scope_widening": "a delegate asked for wider scopes",
    "target_widening": "a delegate asked for another resource",
    "reveal_widening": "a delegate asked to see more",
    "depth_exceeded": "delegated further than allowed",
    "blocked_by_user": "you blocked a party",
}


def _me(request: Request) -> MeService:
    return request.app.state.me  # type: ignore[no-any-return]


def _user(request: Request, visitor: Visitor) -> UserRecord:
    return _me(request).user(visitor.principal)


def _directory(request: Request) -> dict[str, Any]:
    """What a user may pick from: active agents (no keys), their organizations, resource URIs."""
    agents = [a for a in request.app.state.admin.list_agents() if not a.suspended]
    orgs = sorted({a.organization_display for a in agents}, key=str.casefold)
    resources = sorted((uri, a.name) for a in agents for uri in a.resource_uris)
    return {"agents": agents, "organizations": orgs, "resources": resources}


def _status(grant: GrantRecord, t: float) -> str:
    if grant.revoked_at is not None:
        return "revoked"
    if grant.expires_at is not None and grant.expires_at <= t:
        return "expired"
    return "active"


# -- grants -------------------------------------------------------------------------------------


def _grants_page(
    request: Request,
    visitor: Visitor,
    *,
    status: int = 200,
    error: str | None = None,
    form: dict[str, Any] | None = None,
) -> Response:
    user = _user(request, visitor)
    t = now(request)
    grants = [(g, _status(g, t)) for g in reversed(_me(request).grants(user))]
    return page(
        request,
        "grants.html",
        visitor,
        status=status,
        error=error,
        grants=grants,
        form=form or {},
        reveal_choices=REVEAL_CHOICES,
        max_ttl=request.app.state.ctx.settings.max_token_lifetime,
        **_directory(request),
    )


@router.get("/grants")
def grants(request: Request, visitor: UserVisitor) -> Response:
    """The user's grants and the form to create one."""
    return _grants_page(request, visitor)


def _int(text: str, name: str, default: int | None = None) -> int:
    if not text and default is not None:
        return default
    try:
        return parse_whole_number(text, low=0, high=999_999_999)
    except ValueError as exc:
        raise ValueError(f"{name} must be a whole number") from exc


def _grant_body(form: Posted, t: float) -> dict[str, Any]:
    target = form.get("target")
    body: dict[str, Any] = {
        "agent": form.get("agent") or None if target != "organization" else None,
        "organization": form.get("organization") or None if target == "organization" else None,
        "resource": form.get("resource"),
        "scopes": values(form.all("scopes")),
        "reveal": [*form.all("reveal"), *values(form.all("reveal_other"))],
        "purpose": form.get("purpose") or None,
        "require_dpop": form.get("require_dpop") == "on",
    }
    if not body["scopes"]:
        raise ValueError("name at least one scope, such as calendar:read")
    body["max_ttl_seconds"] = _int(form.get("max_ttl_seconds"), "the lifetime cap")
    body["max_delegation_depth"] = _int(form.get("max_delegation_depth"), "the delegation depth", 0)
    days = form.get("valid_days")
    if days:
        body["expires_at"] = t + _int(days, "the number of days") * 86400
    budgets = (("tokens_per_hour", "tokens per hour"), ("disclosures_per_day", "disclosures per day"))
    for field, name in budgets:
        if form.get(field):  # empty: no budget
            body[field] = _int(form.get(field), name)
    return body


@router.post("/grants")
def create_grant(request: Request, form: UserForm) -> Response:
    """Create a grant from the form."""
    visitor = form.visitor
    try:
        body = _grant_body(form, now(request))
        _me(request).create_grant(_user(request, visitor), body)
    except ValueError as exc:
        return _grants_page(request, visitor, status=422, error=str(exc), form=form.fields)
    except BrokerError as exc:
        return _grants_page(request, visitor, status=exc.status_code, error=exc.description, form=form.fields)
    return redirect(request, "/grants", visitor, notice="grant_created")


@router.post("/grants/{grant_id}/revoke")
def revoke_grant(grant_id: str, request: Request, form: UserForm) -> Response:
    """Revoke a grant (and its tokens)."""
    try:
        _me(request).revoke_grant(_user(request, form.visitor), grant_id)
    except BrokerError as exc:
        return _grants_page(request, form.visitor, status=exc.status_code, error=exc.description)
    return redirect(request, "/grants", form.visitor, notice="grant_revoked")


# -- blocklist ----------------------------------------------------------------------------------


def _blocklist_page(
    request: Request, visitor: Visitor, *, status: int = 200, error: str | None = None, place_query: str = ""
) -> Response:
    mode, entries = _me(request).entries(_user(request, visitor))
    described = [(e, locales.describe(e.value) if e.kind is EntryKind.LOCALE else e.value) for e in entries]
    return page(
        request,
        "blocklist.html",
        visitor,
        status=status,
        error=error,
        mode=str(mode),
        entries=described,
        place_query=place_query,
        places=locales.search(place_query) if place_query else [],
        countries=locales.countries(),
        **_directory(request),
    )


@router.get("/blocklist")
def blocklist(
    request: Request, visitor: UserVisitor, place: str = Query(default="", max_length=100)
) -> Response:
    """The user's list, the forms to add to it, and a country or region search (`?place=`)."""
    return _blocklist_page(request, visitor, place_query=place.strip())


@router.get("/locales")
def locale_search(visitor: AnyVisitor, q: str = Query(default="", max_length=100)) -> JSONResponse:
    """Countries and subdivisions matching a name, for the search box's suggestions."""
    del visitor
    hits = [{"code": p.code, "name": p.name, "kind": p.kind, "country": p.country} for p in locales.search(q)]
    return JSONResponse({"places": hits}, headers={"Cache-Control": "no-store"})


@router.post("/blocklist")
def add_entry(request: Request, form: UserForm) -> Response:
    """Add an organization, a country or region, or an agent (to block, or to allow)."""
    visitor = form.visitor
    try:
        kind = EntryKind(form.get("kind"))
        effect = Effect(form.get("effect") or "block")
    except ValueError:
        return _blocklist_page(request, visitor, status=422, error="Choose what kind of entry to add.")
    value = form.get("value")
    if not value or len(value) > 200:
        return _blocklist_page(
            request, visitor, status=422, error="Say what to add (at most 200 characters)."
        )
    try:
        _, created = _me(request).add_entry(
            _user(request, visitor),
            kind=kind,
            value=value,
            effect=effect,
            note=form.get("note")[:500] or None,
        )
    except BrokerError as exc:
        return _blocklist_page(request, visitor, status=exc.status_code, error=exc.description)
    back = "/activity" if form.get("back") == "activity" else "/blocklist"
    return redirect(request, back, visitor, notice="entry_added" if created else "entry_exists")


@router.post("/blocklist/{entry_id}/remove")
def remove_entry(entry_id: str, request: Request, form: UserForm) -> Response:
    """Remove an entry."""
    try:
        _me(request).remove_entry(_user(request, form.visitor), entry_id)
    except BrokerError as exc:
        return _blocklist_page(request, form.visitor, status=exc.status_code, error=exc.description)
    return redirect(request, "/blocklist", form.visitor, notice="entry_removed")


@router.post("/blocklist/mode")
def set_mode(request: Request, form: UserForm) -> Response:
    """Switch between blocklist and allowlist-only mode."""
    try:
        mode = ListMode(form.get("mode"))
    except ValueError:
        return _blocklist_page(request, form.visitor, status=422, error="Choose a list mode.")
    _me(request).set_mode(_user(request, form.visitor), mode)
    return redirect(request, "/blocklist", form.visitor, notice="mode_changed")


# -- activity -----------------------------------------------------------------------------------

PAGE = 50


def _activity_row(event: dict[str, Any], orgs: dict[str, tuple[str, str]]) -> dict[str, Any]:
    details = event.get("details") or {}
    inputs = details.get("inputs") or {}
    chain = [*inputs.get("chain", [])] or list(event.get("actors") or [])
    parties = list(
        dict.fromkeys(
            [*chain, *(inputs.get(k) for k in ("requester", "delegate", "holder") if inputs.get(k))]
        )
    )
    # The organizations a user can block from this row, by their display name.
    blockable = list(dict.fromkeys(orgs[p] for p in parties if p in orgs))
    reasons = [*event.get("reasons", [])]
    if not reasons and details.get("reason"):
        reasons = [details["reason"]]
    return {
        "seq": event["seq"],
        "time_ms": event["time_ms"],
        "type": event["type"],
        "chain": chain,
        "holder": inputs.get("holder") or details.get("holder"),
        "resource": event.get("resource"),
        "scopes": event.get("scopes_granted") or event.get("scopes_requested") or [],
        "decision": event.get("decision"),
        "reasons": [(r, REASONS.get(r, r)) for r in reasons],
        "redacted": sorted((details.get("counts") or {}).items()),
        "blockable": blockable,
        "refused": event.get("decision") == "deny",
        "summary": _summary(event["type"], details),
    }


def _summary(kind: str, details: dict[str, Any]) -> str:
    if kind.startswith("list.entry"):
        verb = "added to" if kind == "list.entry_added" else "removed from"
        return f"{details.get('kind')} {details.get('value')} ({details.get('effect')}) {verb} your list"
    if kind == "list.mode_changed":
        return f"list mode set to {details.get('mode')}"
    if kind.startswith("grant."):
        to = details.get("organization") or "an agent"
        return f"grant {details.get('grant_id')} to {to}"
    return ""


@router.get("/activity")
def activity(
    request: Request, visitor: UserVisitor, before: int | None = Query(default=None, ge=1, le=2**62)
) -> Response:
    """The user's activity, newest first, with a one-click block on every row."""
    user = _user(request, visitor)
    orgs = {
        a.client_id: (a.organization, a.organization_display) for a in request.app.state.admin.list_agents()
    }
    events = request.app.state.console_reads.user_events(user.ref, limit=PAGE, before=before)
    rows = [_activity_row(e, orgs) for e in events]
    next_before = rows[-1]["seq"] if len(rows) == PAGE else None
    _, entries = _me(request).entries(user)
    # Both sides are normalized organization names, as the blocklist matches them.
    blocked = {e.value for e in entries if e.kind is EntryKind.ORGANIZATION and e.effect is Effect.BLOCK}
    # Detections of the agents that asked for this user's data (broker/resilience).
    resilience = getattr(request.app.state, "resilience", None)
    involved = sorted({a for row in rows for a in row["chain"]})
    detections = resilience.detections_of(involved) if resilience is not None and involved else []
    return page(
        request,
        "activity.html",
        visitor,
        rows=rows,
        next_before=next_before,
        blocked=blocked,
        detections=detections,
    )

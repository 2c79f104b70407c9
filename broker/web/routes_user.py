"""The user's pages: grants, blocklist (and allowlist-only mode), activity."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from broker.errors import BrokerError
from broker.services.me import MeService, normalize_entry_value
from broker.services.organizations import NAME_PREFIX, OrganizationService, Resolution
from broker.services.principals import Role
from broker.services.records import AgentRecord, GrantRecord, UserRecord
from broker.validation import parse_whole_number
from broker.web import locales
from broker.web.confirm import Alternative, ask, confirmed
from broker.web.console import (
    PREFIX,
    AnyVisitor,
    NotYours,
    Posted,
    UserForm,
    UserVisitor,
    Visitor,
    now,
    page,
    redirect,
    values,
)
from broker.web.names import Names
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
    "purpose_mismatch": "the purpose is not one of the grant's",
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


def _orgs(request: Request) -> OrganizationService:
    return request.app.state.organizations  # type: ignore[no-any-return]


def _names(request: Request, user: UserRecord | None = None) -> Names:
    """Every registered agent and organization (and the user's grants) by id, to show names."""
    grants = _me(request).grants(user) if user is not None else ()
    return Names.of(request.app.state.admin.list_agents(), _orgs(request).all(), grants)


def _directory(request: Request, names: Names) -> dict[str, Any]:
    """What a user may pick from: active agents (no keys), their organizations, resource URIs."""
    agents = sorted(
        (a for a in names.agents.values() if not a.suspended), key=lambda a: (a.name.casefold(), a.client_id)
    )
    orgs = sorted(names.organizations.values(), key=lambda o: o.display_name.casefold())
    resources = sorted(
        (uri, f"{a.name} ({a.organization_display})") for a in agents for uri in a.resource_uris
    )
    return {"agents": agents, "organizations": orgs, "resources": resources, "names": names}


def _holders(request: Request, user: UserRecord, names: Names) -> list[AgentRecord]:
    """The agents that hold this user's data: the holders of the resources of the user's live
    grants, and every holder named in the user's recent activity."""
    t = now(request)
    ids = {
        names.holders[g.resource].client_id
        for g in names.grants.values()
        if _status(g, t) == "active" and g.resource in names.holders
    }
    for event in request.app.state.console_reads.user_events(user.ref, limit=PAGE, before=None):
        inputs = (event.get("details") or {}).get("inputs") or {}
        if inputs.get("holder"):
            ids.add(str(inputs["holder"]))
    return [names.agents[i] for i in sorted(ids) if i in names.agents]


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
    names = _names(request, user)
    grants = [(g, _status(g, t)) for g in reversed(list(names.grants.values()))]
    vocabulary = {p.code: p for p in request.app.state.purposes.all()}
    return page(
        request,
        "grants.html",
        visitor,
        status=status,
        error=error,
        grants=grants,
        form=form or {},
        reveal_choices=REVEAL_CHOICES,
        purposes=vocabulary,
        purpose_choices=[p for p in vocabulary.values() if p.live],
        max_ttl=request.app.state.ctx.settings.max_token_lifetime,
        **_directory(request, names),
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
        "purposes": form.all("purposes"),
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
        if body["agent"]:
            body["agent"] = _resolve(EntryKind.AGENT, body["agent"], _names(request))
        if body["organization"]:
            body["organization"] = _one_organization(request, body["organization"])
        _me(request).create_grant(_user(request, visitor), body)
    except ValueError as exc:
        return _grants_page(request, visitor, status=422, error=str(exc), form=form.fields)
    except BrokerError as exc:
        return _grants_page(request, visitor, status=exc.status_code, error=exc.description, form=form.fields)
    return redirect(request, "/grants", visitor, notice="grant_created")


def _one_organization(request: Request, typed: str) -> str:
    """The id of the one organization a typed id, name, alias or domain names; ValueError saying
    what matched instead (nothing, with the closest names, or several)."""
    resolution = _orgs(request).resolve(typed)
    ids = resolution.identities
    if len(ids) == 1:
        return ids[0]
    if resolution.matches:
        listed = ", ".join(f"{o.display_name} ({o.org_id})" for o in resolution.matches)
        raise ValueError(f"“{typed}” names several organizations: {listed}. Type the one you mean by its id.")
    hint = ", ".join(o.display_name for o in resolution.suggestions)
    raise ValueError(
        f"No registered organization is called “{typed}”." + (f" Did you mean {hint}?" if hint else "")
    )


@router.post("/grants/{grant_id}/revoke")
def revoke_grant(grant_id: str, request: Request, form: UserForm) -> Response:
    """Revoke a grant (and its tokens), after a confirmation page."""
    if not confirmed(form):
        user = _user(request, form.visitor)
        names = _names(request, user)
        if grant_id not in names.grants:
            return _grants_page(request, form.visitor, status=404, error="No such grant.")
        return ask(
            request,
            form,
            title="Revoke this grant?",
            message=f"The grant {names.grant(grant_id)} ends now, and every token issued under it "
            "is revoked. This cannot be undone; you can create a new grant later.",
            button="Revoke the grant",
            back="/grants",
        )
    try:
        _me(request).revoke_grant(_user(request, form.visitor), grant_id)
    except BrokerError as exc:
        return _grants_page(request, form.visitor, status=exc.status_code, error=exc.description)
    return redirect(request, "/grants", form.visitor, notice="grant_revoked")


# -- blocklist ----------------------------------------------------------------------------------


def _blocklist_page(
    request: Request,
    visitor: Visitor,
    *,
    status: int = 200,
    error: str | None = None,
    place_query: str = "",
) -> Response:
    user = _user(request, visitor)
    names = _names(request, user)
    mode, entries = _me(request).entries(user)
    described = [(e, names.entry(e.kind, e.value)) for e in entries]
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
        groups=locales.groups(),
        **_directory(request, names),
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


@router.get("/organizations")
def organization_search(
    request: Request, visitor: AnyVisitor, q: str = Query(default="", max_length=200)
) -> JSONResponse:
    """Registered organizations matching what was typed (id, name, alias, domain, on the skeleton,
    then the closest names), for the search boxes' suggestions. Users and admins, as the API's
    GET /v1/organizations."""
    if visitor.role not in (Role.USER, Role.ADMIN):
        raise NotYours()
    hits = [
        {
            "id": o.org_id,
            "name": o.display_name,
            "aliases": list(o.aliases),
            "domains": list(o.domains),
            "country": o.country,
        }
        for o in _orgs(request).search(q, limit=20)
    ]
    return JSONResponse({"organizations": hits}, headers={"Cache-Control": "no-store"})


class _PickAgain(Exception):
    """The typed value names nothing definite: show the list page with this message."""

    def __init__(self, message: str, place_query: str = "") -> None:
        super().__init__(message)
        self.place_query = place_query


def _resolve(kind: EntryKind, value: str, names: Names) -> str:
    """What a typed value stands for: a place's name becomes its code, an agent's name its client id."""
    if kind is EntryKind.LOCALE:
        try:
            return normalize_entry_value(kind, value)
        except ValueError:
            pass
        hits = locales.search(value)
        exact = [p for p in hits if locales.fold(p.name) == locales.fold(value)]
        if len(exact) == 1:
            return exact[0].code
        raise _PickAgain(
            f"“{value}” is not one country or region. Pick one of the places below, or type a code "
            "such as DE, US-CA or EU.",
            place_query=value,
        )
    if kind is EntryKind.AGENT and value not in names.agents:
        by_id = [a for a in names.agents.values() if a.client_id.casefold() == value.casefold()]
        by_name = [a for a in names.agents.values() if a.name.casefold() == value.casefold()]
        if len(by_id) == 1:
            return by_id[0].client_id
        if len(by_name) == 1:
            return by_name[0].client_id
    return value


@dataclass(frozen=True, slots=True)
class _Typed:
    """A typed entry as it would be stored: its canonical values (an organization name may stand
    for several organizations, or for none: then its skeleton), and how to call it."""

    values: tuple[str, ...]
    label: str
    resolution: Resolution | None = None


def _typed(request: Request, kind: EntryKind, value: str, names: Names) -> _Typed:
    if kind is EntryKind.ORGANIZATION:
        resolution = _orgs(request).resolve(value)
        if resolution.matches:
            label = ", ".join(dict.fromkeys(o.display_name for o in resolution.matches))
            return _Typed(resolution.identities, label, resolution)
        return _Typed((NAME_PREFIX + resolution.skeleton,), resolution.text, resolution)
    normalized = normalize_entry_value(kind, value)
    return _Typed((normalized,), names.entry(kind, normalized))


def _entry_warnings(
    request: Request, user: UserRecord, names: Names, kind: EntryKind, typed: _Typed, effect: Effect
) -> tuple[list[str], list[Alternative]]:
    """What a person should know before this entry is added: that it blocks the holder of their
    own data, that a name stands for several organizations, or that it names no registered
    organization or agent (with the closest registered names)."""
    warnings: list[str] = []
    alternatives: list[Alternative] = []
    verb = "Block" if effect is Effect.BLOCK else "Allow"
    if effect is Effect.BLOCK:
        for holder in _holders(request, user, names):
            if any(names.covers(kind, v, holder) for v in typed.values):
                warnings.append(
                    f"{holder.name} ({holder.organization_display}) holds your data. Blocking it "
                    "refuses every request for your data there, including those of agents you "
                    "granted access."
                )
    resolution = typed.resolution
    if resolution is not None and len(resolution.identities) > 1:
        listed = ", ".join(f"{o.display_name} ({o.org_id})" for o in resolution.matches)
        warnings.append(
            f"“{resolution.text}” names {len(resolution.identities)} organizations: {listed}. "
            "The entry covers each."
        )
    if resolution is not None and not resolution.matches:
        warnings.append(
            f"No registered organization is called “{resolution.text}”, so this entry matches nobody "
            "today (it will cover an organization registered under that name later). Check the spelling."
        )
        alternatives = [
            Alternative(f"{verb} {o.display_name} instead", "value", o.org_id) for o in resolution.suggestions
        ]
    if kind is EntryKind.AGENT and names.agent(typed.values[0]) == typed.values[0]:
        warnings.append(
            f"No agent is registered with the client id “{typed.values[0]}”, so this entry matches "
            "nobody today."
        )
        close = difflib.get_close_matches(typed.values[0], list(names.agents), n=3, cutoff=0.6)
        alternatives = [Alternative(f"{verb} {names.agent(c)} instead", "value", c) for c in close]
    return warnings, alternatives


@router.post("/blocklist")
def add_entry(request: Request, form: UserForm) -> Response:
    """Add an organization, a country or region, or an agent (to block, or to allow). A block, or
    an entry that names nothing registered, is confirmed first."""
    visitor = form.visitor
    try:
        kind = EntryKind(form.get("kind"))
        effect = Effect(form.get("effect") or "block")
    except ValueError:
        return _blocklist_page(request, visitor, status=422, error="Choose what kind of entry to add.")
    value = form.get("value")
    if not value or len(value) > 200:
        what = {"organization": "an organization", "locale": "a country or region", "agent": "an agent"}
        return _blocklist_page(
            request, visitor, status=422, error=f"Pick {what[kind]} to add (at most 200 characters)."
        )
    back = "/activity" if form.get("back") == "activity" else "/blocklist"
    user = _user(request, visitor)
    names = _names(request, user)
    try:
        value = _resolve(kind, value, names)
        typed = _typed(request, kind, value, names)
    except _PickAgain as exc:
        return _blocklist_page(request, visitor, status=422, error=str(exc), place_query=exc.place_query)
    except ValueError as exc:
        return _blocklist_page(request, visitor, status=422, error=str(exc))
    except BrokerError as exc:
        return _blocklist_page(request, visitor, status=exc.status_code, error=exc.description)
    if not confirmed(form):
        warnings, alternatives = _entry_warnings(request, user, names, kind, typed, effect)
        if effect is Effect.BLOCK or warnings:
            verb = "Block" if effect is Effect.BLOCK else "Allow"
            consequence = (
                "New requests that involve it are refused and live tokens to it are revoked at once."
                if effect is Effect.BLOCK
                else "It is added to your list of allowed parties."
            )
            return ask(
                request,
                form.with_field("value", value),
                title=f"{verb} {typed.label}?",
                message=f"{verb} the {_KIND_WORDS[kind]} {typed.label}. {consequence}",
                warnings=warnings,
                alternatives=alternatives,
                button=f"{verb} {typed.label}",
                back=back,
            )
    try:
        outcome = _me(request).block(
            user, kind=kind, value=value, effect=effect, note=form.get("note")[:500] or None
        )
    except BrokerError as exc:
        return _blocklist_page(request, visitor, status=exc.status_code, error=exc.description)
    return redirect(request, back, visitor, notice="entry_added" if outcome.created else "entry_exists")


_KIND_WORDS = {EntryKind.ORGANIZATION: "organization", EntryKind.LOCALE: "place", EntryKind.AGENT: "agent"}


@router.post("/blocklist/{entry_id}/remove")
def remove_entry(entry_id: str, request: Request, form: UserForm) -> Response:
    """Remove an entry, after a confirmation page."""
    user = _user(request, form.visitor)
    if not confirmed(form):
        _, entries = _me(request).entries(user)
        entry = next((e for e in entries if e.entry_id == entry_id), None)
        if entry is None:
            return _blocklist_page(request, form.visitor, status=404, error="No such entry on your list.")
        label = _names(request).entry(entry.kind, entry.value)
        after = (
            "Its agents may be granted access again."
            if entry.effect is Effect.BLOCK
            else "In allowlist-only mode, it is refused from now on."
        )
        return ask(
            request,
            form,
            title=f"Remove {label} from your list?",
            message=f"The {entry.effect} entry for the {_KIND_WORDS[entry.kind]} {label} is removed. {after}",
            button="Remove the entry",
            back="/blocklist",
        )
    try:
        _me(request).remove_entry(user, entry_id)
    except BrokerError as exc:
        return _blocklist_page(request, form.visitor, status=exc.status_code, error=exc.description)
    return redirect(request, "/blocklist", form.visitor, notice="entry_removed")


@router.post("/blocklist/mode")
def set_mode(request: Request, form: UserForm) -> Response:
    """Switch between blocklist and allowlist-only mode; switching to allowlist-only is confirmed."""
    try:
        mode = ListMode(form.get("mode"))
    except ValueError:
        return _blocklist_page(request, form.visitor, status=422, error="Choose a list mode.")
    user = _user(request, form.visitor)
    if mode is ListMode.ALLOWLIST_ONLY and not confirmed(form):
        names = _names(request, user)
        _, entries = _me(request).entries(user)
        allows = [e for e in entries if e.effect is Effect.ALLOW]
        warnings = [
            f"{h.name} ({h.organization_display}) holds your data and is not on your allowlist: "
            "every request for your data there will be refused."
            for h in _holders(request, user, names)
            if not any(names.covers(e.kind, e.value, h) for e in allows)
        ]
        if not allows:
            warnings.insert(0, "Nothing is on your allowlist yet, so every agent will be refused.")
        return ask(
            request,
            form,
            title="Switch to allowlist-only mode?",
            message="Only agents, organizations and places you allow may take part; everyone else is "
            f"refused, and their live tokens are revoked. You allow {len(allows)} "
            f"entr{'y' if len(allows) == 1 else 'ies'}.",
            warnings=warnings,
            button="Switch to allowlist-only mode",
            back="/blocklist",
        )
    _me(request).set_mode(user, mode)
    return redirect(request, "/blocklist", form.visitor, notice="mode_changed")


# -- activity -----------------------------------------------------------------------------------

PAGE = 50


def _activity_row(event: dict[str, Any], names: Names) -> dict[str, Any]:
    details = event.get("details") or {}
    inputs = details.get("inputs") or {}
    chain = [*inputs.get("chain", [])] or list(event.get("actors") or [])
    holder = inputs.get("holder") or details.get("holder")
    resource = event.get("resource")
    if not holder and resource in names.holders:
        # Revocations and disclosures name the resource, not the holder: it is the resource's.
        holder = names.holders[resource].client_id
    parties = list(
        dict.fromkeys(
            [*chain, *(inputs.get(k) for k in ("requester", "delegate", "holder") if inputs.get(k))]
        )
    )
    # The organizations a user can block from this row: (id, display name, holds the data).
    holder_org = names.agents[holder].organization if holder in names.agents else None
    blockable = list(
        dict.fromkeys(
            (a.organization, a.organization_display, a.organization == holder_org)
            for a in (names.agents[p] for p in parties if p in names.agents)
        )
    )
    reasons = [*event.get("reasons", [])]
    if not reasons and details.get("reason"):
        reasons = [details["reason"]]
    return {
        "seq": event["seq"],
        "time_ms": event["time_ms"],
        "type": event["type"],
        "chain": [(a, names.agent(a)) for a in chain],
        "holder": (holder, names.agent(holder)) if holder else None,
        "resource": resource,
        "scopes": event.get("scopes_granted") or event.get("scopes_requested") or [],
        "decision": event.get("decision"),
        "reasons": [(r, REASONS.get(r, r)) for r in reasons],
        "redacted": sorted((details.get("counts") or {}).items()),
        "blockable": blockable,
        "refused": event.get("decision") == "deny",
        "summary": _summary(event["type"], details, names),
    }


def _summary(kind: str, details: dict[str, Any], names: Names) -> str:
    if kind.startswith("list.entry"):
        verb = "added to" if kind == "list.entry_added" else "removed from"
        try:
            value = names.entry(details.get("kind") or "", str(details.get("value")))
        except ValueError:
            value = str(details.get("value"))
        return f"{details.get('kind')} {value} ({details.get('effect')}) {verb} your list"
    if kind == "list.mode_changed":
        return "list mode set to " + (
            "allowlist only" if details.get("mode") == "allowlist_only" else "blocklist"
        )
    if kind.startswith("grant."):
        verb = "created" if kind == "grant.created" else "revoked"
        return f"grant {names.grant(details.get('grant_id'))} {verb}"
    return ""


@router.get("/activity")
def activity(
    request: Request, visitor: UserVisitor, before: int | None = Query(default=None, ge=1, le=2**62)
) -> Response:
    """The user's activity, newest first, with agents named; blocking a party from a row goes
    through a confirmation that warns when it holds the user's data."""
    user = _user(request, visitor)
    names = _names(request, user)
    events = request.app.state.console_reads.user_events(user.ref, limit=PAGE, before=before)
    rows = [_activity_row(e, names) for e in events]
    next_before = rows[-1]["seq"] if len(rows) == PAGE else None
    _, entries = _me(request).entries(user)
    # The organizations (by id) whose agents an organization block already covers.
    org_blocks = [e for e in entries if e.kind is EntryKind.ORGANIZATION and e.effect is Effect.BLOCK]
    blocked = {
        a.organization
        for a in names.agents.values()
        if any(names.covers(e.kind, e.value, a) for e in org_blocks)
    }
    # Detections of the agents that asked for this user's data (broker/resilience).
    resilience = getattr(request.app.state, "resilience", None)
    involved = sorted({a for row in rows for a, _ in row["chain"]})
    detections = resilience.detections_of(involved) if resilience is not None and involved else []
    return page(
        request,
        "activity.html",
        visitor,
        rows=rows,
        next_before=next_before,
        blocked=blocked,
        detections=detections,
        names=names,
    )

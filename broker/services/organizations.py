"""Organizations as entities: admins register them; agents, grants and blocks name them.

Names, legal-name aliases and domains compare on their skeleton (policy.skeleton): registering one
whose skeleton another organization already has is refused (409) unless the admin declares the new
organization the same as that one (`same_as`), and then a block on either covers both. Parent,
identity and names are fixed at registration, so what an agent's record says its organization covers
(`organization_cover`, computed when the agent is registered) stays true.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import re
import unicodedata
from dataclasses import dataclass

from broker.context import ServiceContext
from broker.errors import Conflict, NotFound, Unprocessable
from broker.grantlog import events
from broker.storage import Connection
from broker.storage import organizations as org_store
from broker.storage.organizations import ALIAS, DOMAIN, NAME, OrganizationRecord, OrgName
from policy import locales, skeleton

ORG_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]")
MAX_NAMES = 50
MAX_PARENT_DEPTH = 16
NAME_PREFIX = "name:"


@dataclass(frozen=True, slots=True)
class Resolution:
    """What a typed organization resolves to: the matching organizations (none, one or several)
    and, when none, the closest registered names."""

    text: str
    skeleton: str
    matches: tuple[OrganizationRecord, ...]
    suggestions: tuple[OrganizationRecord, ...]

    @property
    def identities(self) -> tuple[str, ...]:
        """The distinct organizations (an organization declared the same as another counts once)."""
        return tuple(dict.fromkeys(o.identity for o in self.matches))


def check_org_id(org_id: str) -> str:
    """Organization ids are short lower-case codes, safe in logs and URLs."""
    if not ORG_ID.fullmatch(org_id):
        raise ValueError("organization id must be 1-64 characters of a-z, 0-9 and . _ -, lower case")
    return org_id


def normalize_domain(domain: str) -> str:
    """A DNS name in lower case, IDNA (punycode) for non-ASCII labels, without a trailing dot."""
    text = domain.strip().rstrip(".").lower()
    try:
        ascii_form = text.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValueError(f"{domain!r} is not a domain name") from exc
    if not _DOMAIN.fullmatch(ascii_form):
        raise ValueError(f"{domain!r} is not a domain name")
    return ascii_form


def _name_skeleton(value: str) -> str:
    try:
        return skeleton(value)
    except ValueError as exc:
        raise Unprocessable(f"{value!r}: {exc}") from exc


def name_keys(text: str) -> tuple[str, ...]:
    """The skeletons a typed name may be registered under: as a name, and as a domain."""
    keys = [skeleton(text)]
    with contextlib.suppress(ValueError):
        keys.append(skeleton(normalize_domain(text)))
    return tuple(dict.fromkeys(keys))


def resolve_in(conn: Connection, text: str) -> Resolution:
    """An organization id, name, alias or domain as typed, resolved against the registry."""
    stripped = " ".join(text.split())
    if not stripped:
        raise Unprocessable("organization must not be empty")
    if ORG_ID.fullmatch(stripped.lower()):
        by_id = org_store.get(conn, stripped.lower())
        if by_id is not None:
            return Resolution(text=stripped, skeleton=by_id.org_id, matches=(by_id,), suggestions=())
    try:
        keys = name_keys(stripped)
    except ValueError as exc:
        raise Unprocessable(str(exc)) from exc
    matches = tuple(org_store.with_skeletons(conn, keys))
    suggestions: tuple[OrganizationRecord, ...] = ()
    if not matches:
        suggestions = _closest(conn, keys[0])
    return Resolution(text=stripped, skeleton=keys[0], matches=matches, suggestions=suggestions)


def _closest(conn: Connection, key: str, limit: int = 5) -> tuple[OrganizationRecord, ...]:
    known = org_store.all_skeletons(conn)
    by_key: dict[str, list[str]] = {}
    for sk, org_id in known:
        by_key.setdefault(sk, []).append(org_id)
    close = difflib.get_close_matches(key, list(by_key), n=limit, cutoff=0.6)
    # A name that contains the typed one, or is contained in it, is a suggestion too.
    close += [sk for sk in by_key if (key in sk or sk in key) and sk not in close]
    ids = list(dict.fromkeys(org_id for sk in close for org_id in by_key[sk]))[:limit]
    return tuple(o for o in (org_store.get(conn, i) for i in ids) if o is not None)


def cover(conn: Connection, org: OrganizationRecord) -> tuple[str, ...]:
    """What an organization entry may name to cover an agent of `org` (policy.Party.organizations):
    the ids and identities of the organization and every organization above it, and each of their
    names' skeletons as `name:<skeleton>`."""
    values: list[str] = []
    current: OrganizationRecord | None = org
    for _ in range(MAX_PARENT_DEPTH + 1):
        if current is None:
            break
        values += [current.org_id, current.identity]
        values += [NAME_PREFIX + n.skeleton for n in current.names]
        current = org_store.get(conn, current.parent_id) if current.parent_id else None
    return tuple(dict.fromkeys(values))


def register_in(
    conn: Connection,
    *,
    org_id: str,
    name: str,
    aliases: list[str],
    domains: list[str],
    parent: str | None,
    country: str | None,
    same_as: str | None,
    admin: str,
    now: float,
) -> OrganizationRecord:
    """Register an organization inside the caller's write transaction; Conflict on a collision."""
    try:
        org_id = check_org_id(org_id)
        display = " ".join(name.split())
        if not 0 < len(display) <= 200:
            raise ValueError("name must be 1-200 characters")
        country = locales.normalize(country, groups_allowed=False) if country else None
        names = [OrgName(kind=NAME, value=display, skeleton=_name_skeleton(display))]
        for alias in aliases:
            value = " ".join(alias.split())
            if not 0 < len(value) <= 200:
                raise ValueError("aliases must be 1-200 characters")
            names.append(OrgName(kind=ALIAS, value=value, skeleton=_name_skeleton(value)))
        for domain in domains:
            value = normalize_domain(domain)
            names.append(OrgName(kind=DOMAIN, value=value, skeleton=_name_skeleton(value)))
    except ValueError as exc:
        raise Unprocessable(str(exc)) from exc
    names = list({(n.kind, n.value): n for n in names}.values())
    if len(names) > MAX_NAMES:
        raise Unprocessable(f"at most {MAX_NAMES} names, aliases and domains")
    if org_store.get(conn, org_id) is not None:
        raise Conflict("an organization with this id exists")
    depth = 0
    parent_record = org_store.get(conn, parent) if parent else None
    if parent and parent_record is None:
        raise Unprocessable("parent is not a registered organization")
    walk = parent_record
    while walk is not None and walk.parent_id:
        depth += 1
        if depth >= MAX_PARENT_DEPTH:
            raise Unprocessable(f"organizations nest at most {MAX_PARENT_DEPTH} deep")
        walk = org_store.get(conn, walk.parent_id)
    identity = org_id
    if same_as:
        same = org_store.get(conn, same_as)
        if same is None:
            raise Unprocessable("same_as is not a registered organization")
        identity = same.identity
    colliding = [
        o for o in org_store.with_skeletons(conn, (n.skeleton for n in names)) if o.identity != identity
    ]
    if colliding:
        listed = ", ".join(f"{o.org_id} ({o.display_name})" for o in colliding)
        raise Conflict(
            f"a name, alias or domain reads the same as one of {listed}; "
            "if it is the same organization, register it with same_as"
        )
    record = OrganizationRecord(
        org_id=org_id,
        display_name=display,
        parent_id=parent_record.org_id if parent_record else None,
        identity=identity,
        country=country,
        names=tuple(names),
        created_at=now,
    )
    org_store.insert_organization(conn, record)
    events.append(
        conn,
        events.Event(
            type=events.EventType.ORGANIZATION_REGISTERED,
            details={
                "organization": org_id,
                "parent": record.parent_id,
                "same_as": identity if identity != org_id else None,
                "country": country,
                "names": [{"kind": n.kind, "value": n.value} for n in names],
                "by": admin,
            },
        ),
        now=now,
    )
    return record


def organization_for_agent(conn: Connection, text: str, *, admin: str, now: float) -> OrganizationRecord:
    """The organization an agent's registration names: by id, or by a name that resolves to one
    organization. A name no organization has registers one for it (with no parent, aliases or
    domains), as the migration from free-text organizations did."""
    resolution = resolve_in(conn, text)
    identities = resolution.identities
    if len(identities) > 1:
        listed = ", ".join(o.org_id for o in resolution.matches)
        raise Unprocessable(
            f"organization {resolution.text!r} matches several organizations ({listed}); name it by id"
        )
    if identities:
        by_identity = [o for o in resolution.matches if o.org_id == identities[0]]
        return by_identity[0] if by_identity else resolution.matches[0]
    return register_in(
        conn,
        org_id=_free_id(conn, resolution.text),
        name=resolution.text,
        aliases=[],
        domains=[],
        parent=None,
        country=None,
        same_as=None,
        admin=admin,
        now=now,
    )


def slug(name: str) -> str:
    """An organization id made from a name: ASCII letters and digits joined by "-", or a hash."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    base = "-".join(re.findall(r"[a-z0-9]+", ascii_name))[:56].strip("-")
    return (
        base if base and ORG_ID.fullmatch(base) else "org-" + hashlib.sha256(name.encode()).hexdigest()[:12]
    )


def _free_id(conn: Connection, name: str) -> str:
    base = slug(name)
    candidate, n = base, 1
    while org_store.get(conn, candidate) is not None:
        n += 1
        candidate = f"{base}-{n}"
    return candidate


class OrganizationService:
    """Registering, listing, searching and resolving organizations."""

    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx

    def register(
        self,
        *,
        org_id: str,
        name: str,
        aliases: list[str] | None = None,
        domains: list[str] | None = None,
        parent: str | None = None,
        country: str | None = None,
        same_as: str | None = None,
        admin: str,
    ) -> OrganizationRecord:
        """Register an organization (admins)."""
        with self._ctx.store.write() as conn:
            return register_in(
                conn,
                org_id=org_id,
                name=name,
                aliases=list(aliases or ()),
                domains=list(domains or ()),
                parent=parent,
                country=country,
                same_as=same_as,
                admin=admin,
                now=self._ctx.clock(),
            )

    def get(self, org_id: str) -> OrganizationRecord:
        """One organization, or NotFound."""
        with self._ctx.store.read() as conn:
            org = org_store.get(conn, org_id)
        if org is None:
            raise NotFound("no such organization")
        return org

    def all(self) -> list[OrganizationRecord]:
        """Every organization, by id."""
        with self._ctx.store.read() as conn:
            return org_store.list_all(conn)

    def search(self, query: str, *, limit: int = 20) -> list[OrganizationRecord]:
        """Organizations whose id, name, alias or domain matches what was typed (for pickers): exact
        skeleton matches first, then the closest."""
        if not query.strip():
            return self.all()[:limit]
        with self._ctx.store.read() as conn:
            try:
                resolution = resolve_in(conn, query)
            except Unprocessable:
                return []
            found = list(resolution.matches) + list(resolution.suggestions)
            if resolution.matches:
                found += list(_closest(conn, resolution.skeleton, limit))
        return list({o.org_id: o for o in found}.values())[:limit]

    def resolve(self, text: str) -> Resolution:
        """What a typed organization resolves to."""
        with self._ctx.store.read() as conn:
            return resolve_in(conn, text)

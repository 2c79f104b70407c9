"""`discretion agents|users|auditors|purposes|grants|api-keys`: the operator's getting-started path
without curl.

These commands work on the database named by the DISCRETION_* settings, like `admin create-key`
(no running broker or admin key is needed); each action is recorded in the grant log with the
admin `cli`. Every command prints a table, or JSON with `--json` (the API's shapes).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from discretion_sdk import generate_key, public_jwks, save_private_key
from rich.console import Console
from rich.table import Table

from broker.api.key_routes import ApiKeyOut
from broker.api.schemas import AgentOut, GrantOut, PurposeOut
from broker.context import ServiceContext
from broker.errors import BrokerError
from broker.services.admin import AdminService
from broker.services.me import MeService
from broker.services.principals import KeyService, Role
from broker.services.purposes import PurposeService
from broker.settings import Settings
from broker.storage import console_reads as queries
from broker.storage import principals
from broker.storage.principals import UserRecord

ADMIN = "cli"
out = Console()
err = Console(stderr=True)
T = TypeVar("T")

agents_app = typer.Typer(
    help="Register and list agents (holders and requesters), and rotate their keys.", no_args_is_help=True
)
users_app = typer.Typer(help="Create and list users (an API key is shown once).", no_args_is_help=True)
auditors_app = typer.Typer(help="Create and list auditors.", no_args_is_help=True)
purposes_app = typer.Typer(
    help="Register, list and retire the purposes grants and tokens may name.", no_args_is_help=True
)
grants_app = typer.Typer(help="Create, list and revoke a user's grants.", no_args_is_help=True)
api_keys_app = typer.Typer(
    help="List, revoke and rotate the API keys of users, auditors and admins.", no_args_is_help=True
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@contextmanager
def _context() -> Iterator[ServiceContext]:
    # Imported here: broker.process.cli imports this module, and `prepared` lives there.
    from broker.process.cli import prepared

    with prepared(Settings()) as ctx:
        yield ctx


def _run(action: Callable[[], T]) -> T:
    """Run a service call; a refusal is printed as the API would say it, with exit status 1."""
    try:
        return action()
    except BrokerError as exc:
        err.print(f"[red]refused:[/red] {exc.description}")
        raise typer.Exit(1) from None


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, sort_keys=True))


def _show(records: list[Any], table: Callable[[list[Any]], Any], as_json: bool, *, one: bool) -> None:
    """Records as JSON (one object when `one`, else a list) or as the command's table."""
    if as_json:
        dumped = [r.model_dump() for r in records]
        _print_json(dumped[0] if one else dumped)
    else:
        out.print(table(records))


def _when(timestamp: float | None) -> str:
    return "" if timestamp is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(timestamp))


def _table(*columns: str) -> Table:
    # Ids wrap rather than end in an ellipsis: they are what the next command needs.
    table = Table()
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def _write_secret(path: Path, secret: str) -> None:
    # 0600 and never over an existing file, like the agent's private key.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secret + "\n")


# -- agents -------------------------------------------------------------------------------------


def _agent_table(agents: list[AgentOut]) -> Table:
    table = _table("client id", "organization", "locale", "status", "resource URIs", "key ids")
    for agent in agents:
        kids = ", ".join(str(k.get("kid")) for k in agent.jwks.get("keys", []))
        table.add_row(
            agent.client_id,
            agent.organization_display,
            agent.locale,
            agent.status,
            "\n".join(agent.resource_uris),
            kids,
        )
    return table


@agents_app.command("create")
def create_agent(
    client_id: Annotated[str, typer.Argument(help="The agent's client id.")],
    organization: Annotated[str, typer.Option(help="The organization the admin attests.")],
    locale: Annotated[str, typer.Option(help="Country or region the admin attests (FR, US-CA).")],
    name: Annotated[str | None, typer.Option(help="Display name (default: the client id).")] = None,
    resource: Annotated[
        list[str] | None,
        typer.Option(help="A resource URI this agent holds data at (repeatable; holders only)."),
    ] = None,
    jwks: Annotated[Path | None, typer.Option(help="A file with the agent's public JWK Set (JSON).")] = None,
    generate_key_file: Annotated[
        Path | None,
        typer.Option(
            "--generate-key",
            help="Generate a key pair: write the private key here (PEM, 0600), register the public one.",
        ),
    ] = None,
    kid: Annotated[str | None, typer.Option(help="Key id of a generated key (CLIENT_ID-key-1).")] = None,
    alg: Annotated[str, typer.Option(help="Algorithm of a generated key: EdDSA, ES256, PS256.")] = "EdDSA",
    as_json: JsonOption = False,
) -> None:
    """Register an agent from a JWKS file, or generate its key pair (--generate-key FILE)."""
    if (jwks is None) == (generate_key_file is None):
        err.print("give exactly one of --jwks FILE and --generate-key FILE")
        raise typer.Exit(2)
    key = None
    if generate_key_file is not None:
        if generate_key_file.exists() or generate_key_file.is_symlink():
            err.print(f"{generate_key_file} exists; a private key is never overwritten")
            raise typer.Exit(2)
        try:
            key = generate_key(alg)
        except ValueError as exc:
            err.print(str(exc))
            raise typer.Exit(2) from None
        document: Any = public_jwks(key, kid or f"{client_id}-key-1")
    else:
        assert jwks is not None
        try:
            document = json.loads(jwks.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            err.print(f"cannot read the JWKS file: {exc}")
            raise typer.Exit(2) from None
    with _context() as ctx:
        record = _run(
            lambda: AdminService(ctx).register_agent(
                client_id=client_id,
                name=name or client_id,
                organization=organization,
                locale=locale,
                jwks=document,
                resource_uris=list(resource or []),
                admin=ADMIN,
            )
        )
    if key is not None and generate_key_file is not None:
        save_private_key(generate_key_file, key)
    agent = AgentOut.of(record)
    _show([agent], _agent_table, as_json, one=True)
    if as_json:
        return
    if generate_key_file is not None:
        kid_used = agent.jwks["keys"][0]["kid"]
        out.print(f"private key written to {generate_key_file} (mode 0600); key id {kid_used}")


@agents_app.command("rotate-keys")
def rotate_agent_keys(
    client_id: Annotated[str, typer.Argument(help="The agent's client id.")],
    jwks: Annotated[
        Path | None, typer.Option(help="A file with the agent's complete new public JWK Set (JSON).")
    ] = None,
    generate_key_file: Annotated[
        Path | None,
        typer.Option(
            "--generate-key",
            help="Generate a new key pair: write the private key here (PEM, 0600); the new set is this "
            "key plus the active keys named with --keep.",
        ),
    ] = None,
    kid: Annotated[str | None, typer.Option(help="Key id of a generated key (CLIENT_ID-key-<time>).")] = None,
    alg: Annotated[str, typer.Option(help="Algorithm of a generated key: EdDSA, ES256, PS256.")] = "EdDSA",
    keep: Annotated[
        list[str] | None, typer.Option(help="With --generate-key: an active key id to keep (repeatable).")
    ] = None,
    current: Annotated[
        str | None,
        typer.Option(help="The key id delegated tokens are bound to (default: the one key the set adds)."),
    ] = None,
    compromised: Annotated[
        list[str] | None,
        typer.Option(
            help="A key id removed as compromised (repeatable): refused at once, and every live token "
            "issued to the agent bound to it (or to no key) is revoked. Other keys left out retire: "
            "accepted until the tokens bound to them expire.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Replace an agent's keys from a JWKS file, or with a generated key (--generate-key FILE)."""
    if (jwks is None) == (generate_key_file is None):
        err.print("give exactly one of --jwks FILE and --generate-key FILE")
        raise typer.Exit(2)
    key = None
    with _context() as ctx:
        service = AdminService(ctx)
        if generate_key_file is not None:
            if generate_key_file.exists() or generate_key_file.is_symlink():
                err.print(f"{generate_key_file} exists; a private key is never overwritten")
                raise typer.Exit(2)
            try:
                key = generate_key(alg)
            except ValueError as exc:
                err.print(str(exc))
                raise typer.Exit(2) from None
            active = _run(lambda: service.get_agent(client_id)).jwks["keys"]
            kept = [jwk for jwk in active if jwk["kid"] in set(keep or [])]
            new_kid = kid or f"{client_id}-key-{int(time.time())}"
            document: Any = {"keys": [*kept, *public_jwks(key, new_kid)["keys"]]}
        else:
            assert jwks is not None
            try:
                document = json.loads(jwks.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                err.print(f"cannot read the JWKS file: {exc}")
                raise typer.Exit(2) from None
        record = _run(
            lambda: service.rotate_keys(
                client_id,
                document,
                current_kid=current,
                compromised_kids=list(compromised or []),
                admin=ADMIN,
            )
        )
    if key is not None and generate_key_file is not None:
        save_private_key(generate_key_file, key)
    agent = AgentOut.of(record)
    _show([agent], _agent_table, as_json, one=True)
    if as_json:
        return
    retiring = ", ".join(f"{k.kid} (until {int(k.until)})" for k in agent.retiring_keys) or "none"
    out.print(f"current key {agent.current_kid}; retiring keys: {retiring}")
    if generate_key_file is not None:
        out.print(f"private key written to {generate_key_file} (mode 0600)")


@agents_app.command("list")
def list_agents(as_json: JsonOption = False) -> None:
    """Every registered agent."""
    with _context() as ctx:
        agents = [AgentOut.of(a) for a in AdminService(ctx).list_agents()]
    _show(agents, _agent_table, as_json, one=False)


# -- users and auditors -------------------------------------------------------------------------


def _refuse_existing(key_file: Path | None) -> None:
    # Checked before anything is created, so a refused run leaves no principal without its key.
    if key_file is not None and (key_file.exists() or key_file.is_symlink()):
        err.print(f"{key_file} exists; it is never overwritten")
        raise typer.Exit(2)


def _hand_over_key(
    who: str, api_key: str, key_file: Path | None, shown: dict[str, Any], as_json: bool
) -> None:
    """Give a new API key to the operator once: into the 0600 file if named, else on the last line."""
    if key_file is not None:
        _write_secret(key_file, api_key)
    if as_json:
        _print_json(shown if key_file is not None else {**shown, "api_key": api_key})
    elif key_file is not None:
        typer.echo(f"{who} created; API key written to {key_file} (mode 0600)")
    else:
        typer.echo(f"{who} created; API key (store it now, it is not shown again):")
        typer.echo(api_key)


@users_app.command("create")
def create_user(
    user_id: Annotated[str, typer.Argument(help="The user's id (what agents name as `subject`).")],
    key_file: Annotated[
        Path | None, typer.Option(help="Write the user's API key to this new file (mode 0600).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create a user; the user's API key is shown once (alone on the last line), or written to --key-file."""
    _refuse_existing(key_file)
    with _context() as ctx:
        user, api_key = _run(lambda: AdminService(ctx).create_user(user_id, admin=ADMIN))
    _hand_over_key(f"user {user.user_id}", api_key, key_file, {"user_id": user.user_id}, as_json)


@users_app.command("list")
def list_users(as_json: JsonOption = False) -> None:
    """Users, newest first, with their count of live API keys."""
    with _context() as ctx, ctx.store.read() as conn:
        rows = queries.user_listing(conn)
    fields = ("user_id", "list_mode", "keys", "created_at")
    shown = [{name: row[name] for name in fields} for row in rows]
    if as_json:
        _print_json(shown)
        return
    table = _table("user id", "list mode", "live keys", "created (UTC)")
    for row in shown:
        mode = getattr(row["list_mode"], "value", row["list_mode"])
        table.add_row(row["user_id"], str(mode), str(row["keys"]), _when(row["created_at"]))
    out.print(table)


@auditors_app.command("create")
def create_auditor(
    name: Annotated[str, typer.Argument(help="Who the auditor is.")],
    key_file: Annotated[
        Path | None, typer.Option(help="Write the auditor's API key to this new file (mode 0600).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create an auditor; its API key is shown once (alone on the last line), or written to --key-file."""
    _refuse_existing(key_file)
    with _context() as ctx:
        auditor_id, api_key = _run(lambda: AdminService(ctx).create_auditor(name, admin=ADMIN))
    shown = {"auditor_id": auditor_id, "name": name.strip()}
    _hand_over_key(f"auditor {auditor_id}", api_key, key_file, shown, as_json)


@auditors_app.command("list")
def list_auditors(as_json: JsonOption = False) -> None:
    """Auditors, newest first, with their key ids (never the keys)."""
    with _context() as ctx, ctx.store.read() as conn:
        rows = queries.auditor_listing(conn)
    if as_json:
        _print_json(rows)
        return
    table = _table("auditor id", "name", "keys", "created (UTC)")
    for row in rows:
        keys = ", ".join(f"{k['key_id']}{'' if k['live'] else ' (revoked)'}" for k in row.get("keys", []))
        table.add_row(row["auditor_id"], row["name"], keys, _when(row["created_at"]))
    out.print(table)


# -- purposes -----------------------------------------------------------------------------------


def _purpose_table(purposes: list[PurposeOut]) -> Table:
    table = _table("code", "description", "status", "registered")
    for purpose in purposes:
        status = f"retired {_when(purpose.retired_at)}" if purpose.retired else "live"
        table.add_row(purpose.code, purpose.description, status, _when(purpose.created_at))
    return table


@purposes_app.command("add")
def add_purpose(
    code: Annotated[str, typer.Argument(help="The code grants and tokens name, e.g. trip-planning.")],
    description: Annotated[str, typer.Argument(help='What it means, e.g. "Plan and book travel".')],
    as_json: JsonOption = False,
) -> None:
    """Register a purpose (logged as purpose.registered)."""
    with _context() as ctx:
        purpose = PurposeOut.of(_run(lambda: PurposeService(ctx).register(code, description, admin=ADMIN)))
    _show([purpose], _purpose_table, as_json, one=True)


@purposes_app.command("list")
def list_purposes(as_json: JsonOption = False) -> None:
    """Every purpose, live and retired."""
    with _context() as ctx:
        purposes = [PurposeOut.of(p) for p in PurposeService(ctx).all()]
    _show(purposes, _purpose_table, as_json, one=False)


@purposes_app.command("retire")
def retire_purpose(
    code: Annotated[str, typer.Argument(help="The purpose to retire.")], as_json: JsonOption = False
) -> None:
    """Retire a purpose: no new grant or token may name it (a running broker notices within
    seconds); it stays listed."""
    with _context() as ctx:
        purpose = PurposeOut.of(_run(lambda: PurposeService(ctx).retire(code, admin=ADMIN)))
    _show([purpose], _purpose_table, as_json, one=True)


# -- grants -------------------------------------------------------------------------------------


def _user(ctx: ServiceContext, user_id: str) -> UserRecord:
    with ctx.store.read() as conn:
        user = principals.get_user(conn, user_id=user_id)
    if user is None:
        err.print(f"no user {user_id!r}")
        raise typer.Exit(1)
    return user


def _grant_table(grants: list[GrantOut]) -> Table:
    table = _table(
        "grant id", "to", "resource", "scopes", "max TTL", "purposes", "reveal", "budget", "status"
    )
    for grant in grants:
        to = grant.agent if grant.agent is not None else f"organization {grant.organization}"
        table.add_row(
            grant.grant_id,
            to,
            grant.resource,
            " ".join(grant.scopes),
            f"{grant.max_ttl_seconds} s",
            " ".join(grant.purposes),
            " ".join(grant.reveal),
            _budget_text(grant),
            grant.status,
        )
    return table


def _budget_text(grant: GrantOut) -> str:
    parts = []
    if grant.tokens_per_hour is not None:
        parts.append(f"{grant.tokens_per_hour} tokens/h")
    if grant.disclosures_per_day is not None:
        parts.append(f"{grant.disclosures_per_day} disclosures/day")
    return ", ".join(parts)


UserOption = Annotated[str, typer.Option("--user", help="The user whose grants these are.")]


@grants_app.command("create")
def create_grant(
    user_id: UserOption,
    resource: Annotated[str, typer.Option(help="The holder's resource URI.")],
    scope: Annotated[list[str], typer.Option(help="A scope granted (repeatable), e.g. accounts:read.")],
    agent: Annotated[str | None, typer.Option(help="The agent granted access.")] = None,
    organization: Annotated[str | None, typer.Option(help="Or every agent of this organization.")] = None,
    max_ttl: Annotated[int, typer.Option(help="Longest token lifetime under this grant, seconds.")] = 300,
    purpose: Annotated[
        list[str] | None,
        typer.Option(help="A registered purpose tokens may name (repeatable); tokens must name one of them."),
    ] = None,
    reveal: Annotated[
        list[str] | None, typer.Option(help="An entity type disclosed unredacted (repeatable), e.g. PERSON.")
    ] = None,
    max_delegation_depth: Annotated[int, typer.Option(help="How many hops of delegation.")] = 0,
    require_dpop: Annotated[bool, typer.Option(help="Only DPoP-bound tokens.")] = False,
    tokens_per_hour: Annotated[
        int | None, typer.Option(help="Budget: tokens per hour (none: unlimited).")
    ] = None,
    disclosures_per_day: Annotated[
        int | None, typer.Option(help="Budget: disclosures per day (none: unlimited).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Grant an agent (or an organization) scoped access to the user's data at one holder."""
    body: dict[str, Any] = {
        "agent": agent,
        "organization": organization,
        "resource": resource,
        "scopes": list(scope),
        "max_ttl_seconds": max_ttl,
        "purposes": list(purpose or []),
        "reveal": list(reveal or []),
        "max_delegation_depth": max_delegation_depth,
        "require_dpop": require_dpop,
        "tokens_per_hour": tokens_per_hour,
        "disclosures_per_day": disclosures_per_day,
    }
    with _context() as ctx:
        user = _user(ctx, user_id)
        record = _run(lambda: MeService(ctx).create_grant(user, body))
        grant = GrantOut.of(record, ctx.clock())
    _show([grant], _grant_table, as_json, one=True)


@grants_app.command("list")
def list_grants(user_id: UserOption, as_json: JsonOption = False) -> None:
    """The user's grants, oldest first, with their status."""
    with _context() as ctx:
        user = _user(ctx, user_id)
        now = ctx.clock()
        grants = [GrantOut.of(g, now) for g in MeService(ctx).grants(user)]
    _show(grants, _grant_table, as_json, one=False)


@grants_app.command("budget")
def set_budget(
    user_id: UserOption,
    grant_id: Annotated[str, typer.Argument(help="The grant.")],
    tokens_per_hour: Annotated[int | None, typer.Option(help="Tokens per hour (omit: unlimited).")] = None,
    disclosures_per_day: Annotated[
        int | None, typer.Option(help="Disclosures per day (omit: unlimited).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Set a grant's budgets, enforced across replicas (docs/resilience.md)."""
    with _context() as ctx:
        user = _user(ctx, user_id)
        record = _run(
            lambda: MeService(ctx).set_budget(
                user, grant_id, tokens_per_hour=tokens_per_hour, disclosures_per_day=disclosures_per_day
            )
        )
        grant = GrantOut.of(record, ctx.clock())
    _show([grant], _grant_table, as_json, one=True)


@grants_app.command("revoke")
def revoke_grant(
    user_id: UserOption,
    grant_id: Annotated[str, typer.Argument(help="The grant to revoke.")],
    as_json: JsonOption = False,
) -> None:
    """Revoke a grant and every live token issued under it."""
    with _context() as ctx:
        user = _user(ctx, user_id)
        record = _run(lambda: MeService(ctx).revoke_grant(user, grant_id))
        grant = GrantOut.of(record, ctx.clock())
    _show([grant], _grant_table, as_json, one=True)


# -- API keys -----------------------------------------------------------------------------------


def _key_table(keys: list[ApiKeyOut]) -> Table:
    table = _table("key id", "role", "principal", "label", "created (UTC)", "last used (UTC)", "state")
    for key in keys:
        state = "live" if key.revoked_at is None else f"revoked {_when(key.revoked_at)}"
        table.add_row(
            key.key_id,
            key.role,
            key.principal,
            key.label or "",
            _when(key.created_at),
            _when(key.last_used_at),
            state,
        )
    return table


@api_keys_app.command("list")
def list_api_keys(
    role: Annotated[Role | None, typer.Option(help="Only keys of this role.")] = None,
    user_id: Annotated[str | None, typer.Option("--user", help="Only this user's keys.")] = None,
    principal: Annotated[
        str | None, typer.Option(help="Only keys of this principal (auditor id, admin label).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """API keys, newest first: ids, labels, times and state; never a secret or a hash."""
    with _context() as ctx:
        if user_id is not None:
            role, principal = Role.USER, _user(ctx, user_id).ref
        keys = [ApiKeyOut.of(k) for k in KeyService(ctx).list_for(role=role, principal=principal)]
    _show(keys, _key_table, as_json, one=False)


@api_keys_app.command("revoke")
def revoke_api_key(
    key_id: Annotated[str, typer.Argument(help="The key id (the 16 hex digits after dsc_xxx_).")],
    as_json: JsonOption = False,
) -> None:
    """Revoke an API key at once; the console sessions opened with it end too."""
    with _context() as ctx:
        key = ApiKeyOut.of(_run(lambda: KeyService(ctx).revoke(None, key_id, by=ADMIN)))
    _show([key], _key_table, as_json, one=True)


@api_keys_app.command("rotate")
def rotate_api_key(
    key_id: Annotated[str, typer.Argument(help="The key id to replace.")],
    label: Annotated[str | None, typer.Option(help="Label of the new key (default: the old one's).")] = None,
    key_file: Annotated[
        Path | None, typer.Option(help="Write the new key to this new file (mode 0600).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Replace an API key: the old one stops working at once; the new one is shown once (alone on
    the last line) or written to --key-file."""
    _refuse_existing(key_file)
    with _context() as ctx:
        created, secret = _run(lambda: KeyService(ctx).rotate(None, key_id, by=ADMIN, label=label))
    shown = {"key": ApiKeyOut.of(created).model_dump(), "replaces": key_id}
    if key_file is not None:
        _write_secret(key_file, secret)
    if as_json:
        _print_json(shown if key_file is not None else {**shown, "api_key": secret})
    elif key_file is not None:
        typer.echo(
            f"key {key_id} replaced by {created.key_id}; new API key written to {key_file} (mode 0600)"
        )
    else:
        typer.echo(
            f"key {key_id} replaced by {created.key_id}; new API key (store it now, it is not shown again):"
        )
        typer.echo(secret)

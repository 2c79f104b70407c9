"""The `discretion` command line: serve the broker and administer it."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from broker.context import ServiceContext
from broker.grantlog.log import AuditLog
from broker.oauth.signing_keys import KeyRing, load_key_encryption_key
from broker.observability import configure_logging
from broker.process import manage_cli, serving
from broker.process.redact_cli import redact
from broker.process.resilience_cli import resilience_app
from broker.services import housekeeping
from broker.services.admin import AdminService
from broker.services.origin import IssuerChanged, check_log_origin, logged_origin
from broker.services.signing_keys import ensure_signing_key, rotate_signing_key
from broker.settings import Settings
from broker.storage.db import Store
from policy import Limits

app = typer.Typer(help="Discretion: inter-agent authorization and discretion broker.", no_args_is_help=True)
admin_app = typer.Typer(
    help="Administer the broker's database (from DISCRETION_* settings).", no_args_is_help=True
)
app.add_typer(admin_app, name="admin")
audit_app = typer.Typer(help="Verify, replay and checkpoint the grant log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
app.add_typer(resilience_app, name="resilience")
keys_app = typer.Typer(help="Manage the token-signing keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(manage_cli.agents_app, name="agents")
app.add_typer(manage_cli.users_app, name="users")
app.add_typer(manage_cli.auditors_app, name="auditors")
app.add_typer(manage_cli.grants_app, name="grants")
app.add_typer(manage_cli.api_keys_app, name="api-keys")
err = Console(stderr=True)


def _metrics_dir(settings: Settings) -> None:
    # Workers share counters through files in this folder; start each run with an empty one.
    folder = Path(settings.data_dir) / "metrics"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)


def _prepare(settings: Settings) -> ServiceContext:
    store = Store(settings.resolved_database_url, sqlite_synchronous=settings.sqlite_synchronous)
    try:
        store.migrate()
        keyring = KeyRing(store, load_key_encryption_key(settings), alg=settings.access_token_signing_alg)
        ensure_signing_key(store, keyring)
    except BaseException:
        store.dispose()  # a command that fails must not leave the pool's connections open
        raise
    return ServiceContext(store, settings, keyring)


@contextmanager
def prepared(settings: Settings) -> Iterator[ServiceContext]:
    """The store migrated and the signing key present, for one command; closed whatever happens."""
    ctx = _prepare(settings)
    try:
        yield ctx
    finally:
        ctx.store.dispose()


@app.command()
def init() -> None:
    """Create or upgrade the database schema and the signing key."""
    settings = Settings()
    with prepared(settings):
        pass
    err.print(f"database ready at {settings.resolved_database_url.split('@')[-1]}")


#: Hosts that mean every interface (S104 flags the literal: here it is compared, not bound).
WILDCARD_HOSTS = ("0.0.0.0", "", "::")  # noqa: S104


def derived_issuer(host: str, port: int) -> str:
    """The issuer `serve` uses when DISCRETION_ISSUER is not set: where it listens, over http."""
    if host in WILDCARD_HOSTS:
        # All interfaces: clients on this machine reach it on loopback; others need the setting.
        host = "127.0.0.1" if host != "::" else "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, help="TCP port."),
    workers: int = typer.Option(1, min=1, help="Worker processes (they share the database)."),
) -> None:
    """Run the broker. Its issuer is DISCRETION_ISSUER, or http://HOST:PORT when that is not set."""
    if os.environ.get("DISCRETION_ISSUER"):
        origin = "from DISCRETION_ISSUER"
    elif os.environ.get("DISCRETION_ENVIRONMENT", "").lower() == "production":
        err.print("production needs DISCRETION_ISSUER: the https URL that clients use")
        raise typer.Exit(2)
    else:
        # Set in the environment so that the worker processes (which read it) agree.
        os.environ["DISCRETION_ISSUER"] = derived_issuer(host, port)
        origin = "derived from --host and --port; set DISCRETION_ISSUER to the URL clients use"
        if host in WILDCARD_HOSTS:
            origin += " (listening on all interfaces: other machines need DISCRETION_ISSUER)"
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    _metrics_dir(settings)
    # Migrate and create the key once, before the workers start, so they never race to do it.
    ctx = _prepare(settings)
    try:
        check_log_origin(AuditLog(ctx, load_key_encryption_key(settings)), settings)
    except IssuerChanged as exc:
        err.print(f"[red]refusing to start:[/red] {exc}")
        raise typer.Exit(2) from None
    finally:
        ctx.store.dispose()
    err.print(f"Discretion broker: issuer {settings.issuer} ({origin}), listening on http://{host}:{port}")
    serving.serve(
        host,
        port,
        workers,
        {
            "app": "broker.process.asgi:build",
            "factory": True,
            "log_level": settings.log_level,
            # Workers configure logging themselves (broker.process.asgi), as JSON lines by default.
            "log_config": None,
            "access_log": False,
        },
    )


@admin_app.command("create-key")
def create_key(
    label: str = typer.Option("cli", help="Who the key is for (recorded in the grant log)."),
) -> None:
    """Create an admin API key; it is printed once, alone on the last line."""
    with prepared(Settings()) as ctx:
        key = AdminService(ctx).create_admin_key(created_by=f"cli:{label}")
    typer.echo("New admin API key (store it now; it is not shown again):")
    typer.echo(key)


@keys_app.command("rotate")
def rotate_keys() -> None:
    """Make a new signing key current; the old one stays in the JWKS until its tokens expire.

    Every running broker picks the new key up within 30 seconds, without a restart.
    """
    with prepared(Settings()) as ctx:
        kid = rotate_signing_key(ctx.store, ctx.keyring)
    typer.echo(f"new signing key: {kid}")


@app.command()
def prune() -> None:
    """Delete expired tokens and revocation-feed entries now (served brokers do it every minute)."""
    with prepared(Settings()) as ctx:
        tokens, entries = housekeeping.prune(ctx)
    typer.echo(f"pruned {tokens} expired tokens and {entries} revocation-feed entries")


app.command("redact")(redact)


@audit_app.command("verify")
def audit_verify(
    log_file: Annotated[Path, typer.Option("--log", help="A JSONL export from GET /v1/audit/export.")],
    checkpoint: Annotated[list[Path], typer.Option(help="A signed checkpoint note (repeatable).")],
    key: Annotated[list[str], typer.Option(help="A verifier key, or a file of them (repeatable).")],
    proof: Annotated[
        Path | None, typer.Option(help="A consistency proof (JSON) between two of the checkpoints.")
    ] = None,
) -> None:
    """Check an export against signed checkpoints, offline; exit 1 and name the first bad event."""
    from broker.grantlog.verify import load_verifiers, verify

    keys = load_verifiers(Path(k).read_text() if Path(k).is_file() else k for k in key)
    notes = [_note(path.read_text()) for path in checkpoint]
    consistency = json.loads(proof.read_text()) if proof else None
    with log_file.open(encoding="utf-8") as lines:
        report = verify(lines, notes, keys, consistency=consistency)
    for problem in report.problems:
        err.print(f"[red]FAIL[/red] {problem}")
    if report.first_bad is not None:
        err.print(f"first bad event: {report.first_bad}")
    if not report.ok:
        raise typer.Exit(1)
    sizes = ", ".join(str(s) for s in report.verified_sizes)
    typer.echo(f"OK: {report.events} events; checkpoints verified at tree sizes {sizes}")
    if report.uncovered:
        typer.echo(f"note: the last {report.uncovered} events are not covered by a given checkpoint yet")


def _note(text: str) -> str:
    # Accept the JSON the API returns as well as the bare signed note.
    stripped = text.lstrip()
    return str(json.loads(text)["note"]) if stripped.startswith("{") else text


@audit_app.command("replay")
def audit_replay(
    log_file: Annotated[Path, typer.Option("--log", help="A JSONL export from GET /v1/audit/export.")],
    jti: str | None = typer.Option(None, help="Replay only the decision that issued this token."),
    seq: int | None = typer.Option(None, help="Replay only the decision logged as this event."),
) -> None:
    """Re-evaluate logged token decisions with policy/ on the state the log reconstructs."""
    from broker.grantlog.replay import replay_log

    settings = Settings()
    limits = Limits(
        default_lifetime=settings.default_token_lifetime, max_lifetime=settings.max_token_lifetime
    )
    with log_file.open(encoding="utf-8") as lines:
        events = (json.loads(line)["event"] for line in lines if line.strip())
        results = replay_log(events, limits, jti=jti, seq=seq)
    if not results:
        err.print("no replayable decision matched")
        raise typer.Exit(1)
    differ = 0
    for result in results:
        verdict = "same" if result.same else "DIFFERENT"
        differ += not result.same
        typer.echo(
            f"event {result.seq}: logged {result.logged['decision']} {result.logged['reasons']} "
            f"(policy {result.policy_version_logged}); replayed {result.replayed['decision']} "
            f"{result.replayed['reasons']} (policy {result.policy_version_now}): {verdict}"
        )
        if not result.same:
            typer.echo(f"  logged:   {json.dumps(result.logged, sort_keys=True)}")
            typer.echo(f"  replayed: {json.dumps(result.replayed, sort_keys=True)}")
    if differ:
        raise typer.Exit(1)


@audit_app.command("checkpoint")
def audit_checkpoint(
    rotate_key: bool = typer.Option(False, help="Retire the checkpoint key and sign with a new one."),
) -> None:
    """Sign a checkpoint of the grant log now and print its signed note."""
    settings = Settings()
    with prepared(settings) as ctx:
        audit_log = AuditLog(ctx, load_key_encryption_key(settings))
        if not os.environ.get("DISCRETION_ISSUER") and not settings.checkpoint_origin:
            # `serve` may have derived the issuer from its port: sign for the log's own origin.
            origin = logged_origin(audit_log)
            if origin is not None and origin != audit_log.origin:
                settings = settings.model_copy(update={"checkpoint_origin": origin})
                audit_log = AuditLog(
                    ServiceContext(ctx.store, settings, ctx.keyring), load_key_encryption_key(settings)
                )
        try:
            # A checkpoint for another origin would stop the next start of the broker.
            check_log_origin(audit_log, settings)
        except IssuerChanged as exc:
            err.print(f"[red]refused:[/red] {exc}")
            raise typer.Exit(2) from None
        if rotate_key:
            err.print(f"new checkpoint key: {audit_log.rotate_key()}")
        checkpoint = audit_log.checkpoint()
    typer.echo(checkpoint["note"], nl=False)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()

"""The `discretion` command line: serve the broker and administer it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import typer
import uvicorn
from rich.console import Console

from broker.keys import KeyRing, load_key_encryption_key
from broker.observability import configure_logging
from broker.services.admin import AdminService
from broker.services.context import ServiceContext
from broker.settings import Settings
from broker.storage.db import Store

app = typer.Typer(help="Discretion: inter-agent authorization and discretion broker.", no_args_is_help=True)
admin_app = typer.Typer(
    help="Administer the broker's database (from DISCRETION_* settings).", no_args_is_help=True
)
app.add_typer(admin_app, name="admin")
keys_app = typer.Typer(help="Manage the token-signing keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
err = Console(stderr=True)


def _metrics_dir(settings: Settings) -> None:
    # Workers share counters through files in this folder; start each run with an empty one.
    folder = Path(settings.data_dir) / "metrics"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)


def _prepare(settings: Settings) -> ServiceContext:
    store = Store(settings.resolved_database_url)
    store.migrate()
    keyring = KeyRing(store, load_key_encryption_key(settings))
    keyring.ensure_key()
    return ServiceContext(store, settings, keyring)


@app.command()
def init() -> None:
    """Create or upgrade the database schema and the signing key."""
    settings = Settings()
    _prepare(settings).store.dispose()
    err.print(f"database ready at {settings.resolved_database_url.split('@')[-1]}")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, help="TCP port."),
    workers: int = typer.Option(1, min=1, help="Worker processes (they share the database)."),
) -> None:
    """Run the broker."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    _metrics_dir(settings)
    # Migrate and create the key once, before the workers start, so they never race to do it.
    _prepare(settings).store.dispose()
    err.print(f"Discretion broker: issuer {settings.issuer}, listening on http://{host}:{port}")
    uvicorn.run(
        "broker.asgi:build",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level,
        # Workers configure logging themselves (broker.asgi), as JSON lines by default.
        log_config=None,
        access_log=False,
    )


@admin_app.command("create-key")
def create_key(
    label: str = typer.Option("cli", help="Who the key is for (recorded in the grant log)."),
) -> None:
    """Create an admin API key; it is printed once, alone on the last line."""
    ctx = _prepare(Settings())
    key = AdminService(ctx).create_admin_key(created_by=f"cli:{label}")
    ctx.store.dispose()
    typer.echo("New admin API key (store it now; it is not shown again):")
    typer.echo(key)


@keys_app.command("rotate")
def rotate_keys() -> None:
    """Make a new signing key current; the old one stays in the JWKS until its tokens expire.

    Every running broker picks the new key up within 30 seconds, without a restart.
    """
    ctx = _prepare(Settings())
    kid = ctx.keyring.rotate()
    ctx.store.dispose()
    typer.echo(f"new signing key: {kid}")


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()

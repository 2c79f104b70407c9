"""The `discretion` console script. `discretion redact` is often run once per file from scripts,
so it loads only the redaction engine; every other command loads the whole command line."""

from __future__ import annotations

import sys


def main() -> None:
    """Console-script entry point."""
    if sys.argv[1:2] == ["redact"]:
        import typer

        from broker.process.redact_cli import redact

        # A one-command app runs its command directly: `discretion redact [OPTIONS] SOURCE`.
        redact_app = typer.Typer(add_completion=False)
        redact_app.command()(redact)
        redact_app(args=sys.argv[2:], prog_name="discretion redact")
        return
    from broker.process.cli import main as full_main

    full_main()


if __name__ == "__main__":
    main()

"""`discretion redact`: batch redaction of JSON or JSON Lines without a running broker."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from broker.redaction import DisclosurePolicy, Operator, RedactionError
from broker.services.disclose import build_redactor, redaction_mode
from broker.settings import Settings

err = Console(stderr=True)


def _open(source: str) -> IO[bytes]:
    return sys.stdin.buffer if source == "-" else Path(source).open("rb")  # closed by the caller


def _decode(raw: bytes, where: str) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise typer.BadParameter(f"{where}: not UTF-8 (byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(
            f"{where}: invalid JSON ({exc.msg}, line {exc.lineno} column {exc.colno})"
        ) from exc


def _lines(handle: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    for number, line in enumerate(handle, start=1):
        if line.strip():
            yield number, line


def redact(
    source: Annotated[
        str, typer.Argument(help="A JSON file, a JSON Lines file with --jsonl, or - for stdin.")
    ],
    reveal: Annotated[
        list[str] | None, typer.Option("--reveal", help="An entity type the recipient may see (repeatable).")
    ] = None,
    operator: Annotated[Operator, typer.Option(help="How redacted values are replaced.")] = Operator.REPLACE,
    recipient: Annotated[str, typer.Option(help="Recipient id; pseudonyms are keyed per recipient.")] = "",
    jsonl: Annotated[bool, typer.Option("--jsonl", help="One JSON record per line in and out.")] = False,
    report: Annotated[
        bool, typer.Option("--report", help="Print each record's report (no values) to stderr.")
    ] = False,
) -> None:
    """Redact JSON to stdout, as `POST /v1/disclose` would for a token that reveals --reveal."""
    settings = Settings()
    err.print(f"redaction mode: {redaction_mode(settings)}")
    redactor = build_redactor(settings)
    policy = DisclosurePolicy(reveal=frozenset(reveal or ()), operator=operator, recipient=recipient)
    out = sys.stdout
    with _open(source) as handle:
        if not jsonl:
            document = _decode(handle.read(), source)
            result = _redact_one(redactor, document, policy, source)
            out.write(json.dumps(result.data, ensure_ascii=False) + "\n")
            if report:
                err.print_json(data=result.report)
            return
        lines = list(_lines(handle))
        # A progress bar only when someone is watching a job big enough to need one.
        show = err.is_terminal and len(lines) >= 200
        columns = (TextColumn("redacting"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=err, disable=not show) as progress:
            task = progress.add_task("redact", total=len(lines))
            for number, raw in lines:
                where = f"{source}:{number}"
                result = _redact_one(redactor, _decode(raw, where), policy, where)
                out.write(json.dumps(result.data, ensure_ascii=False) + "\n")
                if report:
                    err.print(json.dumps({"line": number, **result.report}))
                progress.advance(task)


def _redact_one(redactor: Any, document: Any, policy: DisclosurePolicy, where: str) -> Any:
    try:
        return redactor.redact(document, policy)
    except RedactionError as exc:
        raise typer.BadParameter(f"{where}: {exc}") from exc

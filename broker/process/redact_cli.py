"""`discretion redact`: batch redaction of JSON or JSON Lines without a running broker."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from broker.redaction import DisclosurePolicy, Operator, RedactionError, entities
from broker.services.disclose import build_redactor, redaction_mode
from broker.settings import Settings

err = Console(stderr=True)
USAGE = 2  # the exit status for bad input, as for a bad option


def _fail(message: str) -> NoReturn:
    """One line on stderr and exit status 2: no traceback for a user's mistake."""
    err.print(f"discretion redact: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(USAGE)


def _open(source: str) -> IO[bytes]:
    if source == "-":
        return sys.stdin.buffer
    path = Path(source)
    try:
        if path.is_dir():
            _fail(f"{source}: is a directory, not a JSON file")
        return path.open("rb")  # closed by the caller
    except FileNotFoundError:
        _fail(f"{source}: no such file")
    except PermissionError:
        _fail(f"{source}: permission denied")
    except OSError as exc:
        _fail(f"{source}: cannot read ({exc.strerror or exc})")


def _decode(raw: bytes, where: str) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        _fail(f"{where}: not UTF-8 (byte {exc.start})")
    except json.JSONDecodeError as exc:
        _fail(f"{where}: invalid JSON ({exc.msg}, line {exc.lineno} column {exc.colno})")
    except RecursionError:
        _fail(f"{where}: nested too deeply")


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
    subject: Annotated[
        str, typer.Option(help="Whose data this is; pseudonyms are keyed per recipient and data subject.")
    ] = "",
    jsonl: Annotated[bool, typer.Option("--jsonl", help="One JSON record per line in and out.")] = False,
    report: Annotated[
        bool, typer.Option("--report", help="Print each record's report (no values) to stderr.")
    ] = False,
) -> None:
    """Redact JSON to stdout, as `POST /v1/disclose` would for a token that reveals --reveal."""
    settings = Settings()
    err.print(f"redaction mode: {redaction_mode(settings)}")
    for name in reveal or ():
        try:
            entities.check(name)
        except entities.UnknownEntityType as exc:
            _fail(f"--reveal: {exc}")
    if operator is Operator.PSEUDONYM and not recipient:
        _fail("--operator pseudonym needs --recipient (pseudonyms are keyed per recipient)")
    handle = _open(source)  # before the engine loads: a wrong path answers at once
    redactor = build_redactor(settings)
    policy = DisclosurePolicy(
        reveal=frozenset(reveal or ()), operator=operator, recipient=recipient, subject=subject
    )
    out = sys.stdout
    with handle:
        if not jsonl:
            try:
                raw = handle.read()
            except OSError as exc:
                _fail(f"{source}: cannot read ({exc.strerror or exc})")
            document = _decode(raw, source)
            result = _redact_one(redactor, document, policy, source)
            out.write(json.dumps(result.data, ensure_ascii=False) + "\n")
            if report:
                err.print_json(data=result.report)
            return
        try:
            lines = list(_lines(handle))
        except OSError as exc:
            _fail(f"{source}: cannot read ({exc.strerror or exc})")
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
        _fail(f"{where}: {exc}")

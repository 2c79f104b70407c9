"""A confirmation step for destructive console actions, done on the server so that it works
without script: the first post of a destructive form answers with a page that restates what will
happen (with any warning, such as blocking the holder of one's own data) and repeats the form's
fields with `confirm=yes`; only that second post acts. Cancelling is a link back, so it changes
nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import Response

from broker.web.console import Posted, page

CONFIRM_FIELD = "confirm"


@dataclass(frozen=True, slots=True)
class Alternative:
    """Another value the person may have meant, offered as its own button (e.g. a suggested
    organization for a misspelt one)."""

    label: str
    field: str
    value: str


def confirmed(form: Posted) -> bool:
    """True when this post is the answer to a confirmation page."""
    return form.get(CONFIRM_FIELD) == "yes"


def ask(
    request: Request,
    form: Posted,
    *,
    title: str,
    message: str,
    button: str,
    back: str,
    warnings: Sequence[str] = (),
    alternatives: Sequence[Alternative] = (),
) -> Response:
    """The confirmation page for a posted form: its fields carried over, a button that acts and a
    link back that does not."""
    carried = [
        (name, value)
        for name, values_ in form.fields.items()
        if name not in ("csrf", CONFIRM_FIELD)
        for value in values_
    ]
    choices = [(a, [(n, a.value if n == a.field else v) for n, v in carried]) for a in alternatives]
    return page(
        request,
        "confirm.html",
        form.visitor,
        title=title,
        message=message,
        warnings=list(warnings),
        button=button,
        action=request.url.path,
        carried=carried,
        alternatives=choices,
        back=back,
    )

"""POST /v1/disclose: a holder shares data with a token's bearer, redacted (docs/api.md)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from broker.api.deps import bearer
from broker.errors import InvalidClient

router = APIRouter()
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@router.post("/v1/disclose", tags=["holders"])
async def disclose(request: Request) -> JSONResponse:
    """Redact `data` for the bearer of `token` (client assertion as the bearer credential)."""
    assertion = bearer(request)
    if assertion is None:
        raise InvalidClient("a client assertion is required as the bearer credential")
    raw = await request.body()
    # Redaction is CPU work with a time budget: off the event loop.
    body = await run_in_threadpool(request.app.state.disclose.disclose, assertion, raw)
    return JSONResponse(body, headers=_NO_STORE)

"""Every JSON body of the /v1 API is read with `strict_json`: routers built with `StrictJSONRoute`
hand FastAPI a request whose `json()` refuses what two readers could read differently."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from broker import strict_json


class _StrictJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            raw = await self.body()
            try:
                self._json = strict_json.loads(raw)
            except strict_json.StrictJSONError as exc:
                # FastAPI answers a JSONDecodeError as any malformed body (422, "json_invalid").
                raise json.JSONDecodeError(str(exc), "", 0) from exc
        return self._json


class StrictJSONRoute(APIRoute):
    """An APIRoute whose JSON bodies are parsed strictly."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            return await handler(_StrictJSONRequest(request.scope, request.receive))

        return strict_handler

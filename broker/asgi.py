"""Entry point for ASGI servers: `uvicorn --factory broker.asgi:build`."""

from __future__ import annotations

from fastapi import FastAPI

from broker.api import create_app
from broker.settings import Settings


def build() -> FastAPI:
    """An app from the `DISCRETION_*` environment; `discretion serve` has already migrated."""
    return create_app(Settings(), migrate=False)

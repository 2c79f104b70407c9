"""Entry point for ASGI servers: `uvicorn --factory broker.process.asgi:build`."""

from __future__ import annotations

from fastapi import FastAPI

from broker.api import create_app
from broker.observability import configure_logging
from broker.settings import Settings


def build() -> FastAPI:
    """An app from the `DISCRETION_*` environment; `discretion serve` has already migrated."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings, migrate=False, freeze_heap=True)

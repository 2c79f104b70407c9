"""The application factory. Nothing is created at import time."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from cryptography.exceptions import InvalidTag
from fastapi import FastAPI, Request, Response
from starlette.types import Receive, Scope, Send

from broker.api import (
    admin_routes,
    audit_routes,
    disclose_routes,
    key_routes,
    me_routes,
    oauth_routes,
    organization_routes,
    resilience_routes,
)
from broker.api.docs_pages import install_docs_pages
from broker.api.errors import install_error_handlers
from broker.api.limits import BodySizeLimit, NulInTarget
from broker.api.token_endpoint import TokenEndpoint
from broker.context import ServiceContext
from broker.grantlog.log import AuditLog, Checkpointer, LogIntegrityError
from broker.grantlog.queries import AuditQueries
from broker.oauth.endpoint import OAuthService
from broker.oauth.signing_keys import KeyRing, load_key_encryption_key
from broker.observability import MetricsMiddleware, metrics_allowed, metrics_response
from broker.resilience.service import Resilience, Watcher
from broker.services.admin import AdminService
from broker.services.console import ConsoleService
from broker.services.disclose import DiscloseService, redaction_mode
from broker.services.housekeeping import Pruner
from broker.services.me import MeService
from broker.services.organizations import OrganizationService
from broker.services.origin import IssuerChanged, check_log_origin
from broker.services.signing_keys import ensure_signing_key
from broker.settings import Settings
from broker.storage.db import Store
from broker.web import install as install_console

log = logging.getLogger(__name__)


class BrokerApp(FastAPI):
    """FastAPI, with `POST /oauth2/token` served ahead of its middleware chain (crossing it was a
    fifth of a bare token request's CPU: broker/api/token_endpoint.py)."""

    _front: TokenEndpoint | None = None

    def serve_tokens_first(self, service: OAuthService, max_bytes: int) -> None:
        """Put the token endpoint in front; every other request goes on to FastAPI unchanged."""
        self._front = TokenEndpoint(super().__call__, service=service, max_bytes=max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._front is None:
            await super().__call__(scope, receive, send)
        else:
            await self._front(scope, receive, send)


def create_app(
    settings: Settings,
    *,
    clock: Callable[[], float] | None = None,
    migrate: bool = True,
    freeze_heap: bool = False,
) -> FastAPI:
    """Build the broker app for these settings (and, in tests, a movable clock). A served worker
    sets `freeze_heap`: see the lifespan."""
    store = Store(settings.resolved_database_url, sqlite_synchronous=settings.sqlite_synchronous)
    kek = load_key_encryption_key(settings)
    keyring = KeyRing(store, kek, alg=settings.access_token_signing_alg)
    ctx = (
        ServiceContext(store, settings, keyring)
        if clock is None
        else ServiceContext(store, settings, keyring, clock)
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stops: list[Callable[[], None]] = []
        try:
            start(stops)
        except BaseException:
            # A refused start must not leave the pool's connections open until garbage collection.
            stop(stops)
            raise
        try:
            yield
        finally:
            stop(stops)

    def stop(stops: list[Callable[[], None]]) -> None:
        for stop_worker in reversed(stops):
            stop_worker()
        store.dispose()

    def start(stops: list[Callable[[], None]]) -> None:
        if migrate:
            store.migrate()
        kid = ensure_signing_key(store, keyring)
        # Unseal the signing key now: a wrong key-encryption key must stop the start, not turn
        # every token request into a 500 while /ready says ready.
        try:
            keyring.current()
        except InvalidTag as exc:
            raise RuntimeError(
                "the key-encryption key cannot unseal the signing key "
                "(is DISCRETION_KEY_ENCRYPTION_KEY the one the keys were sealed with?)"
            ) from exc
        # A changed issuer changes the checkpoint origin: say so, before the integrity check
        # reports it as a checkpoint that does not verify.
        try:
            check_log_origin(audit_log, settings)
        except IssuerChanged as exc:
            log.critical("refusing to start: %s", exc)
            raise
        # Recompute the tree from the stored events and check it against every signed checkpoint;
        # a broker whose log no longer matches what it signed must not serve (or extend) it.
        try:
            size = audit_log.verify_at_start()
        except LogIntegrityError as exc:
            log.critical("refusing to start: the grant log failed its integrity check: %s", exc)
            raise
        store.start_maintenance()
        audit_log.checkpoint()  # covers whatever was appended since the last one
        checkpointer = Checkpointer(audit_log, settings.checkpoint_poll_seconds)
        checkpointer.start()
        stops.append(checkpointer.stop)
        pruner = Pruner(ctx, settings.prune_interval_seconds)
        pruner.start()
        stops.append(pruner.stop)
        if resilience is not None:
            resilience.refresh()
            watcher = Watcher(resilience, settings.resilience_poll_seconds)
            watcher.start()
            stops.append(watcher.stop)
        log.info(
            "broker ready: issuer=%s store=%s signing kid=%s",
            settings.issuer,
            "sqlite" if store.is_sqlite else "postgresql",
            kid,
        )
        log.info("redaction: %s", redaction_mode(settings))
        log.info("grant log verified: %d events", size)
        if freeze_heap:
            # The start-up heap (name lists, phone metadata, the app) lives forever; frozen, a full
            # collection no longer walks it and stalls every request in the worker.
            gc.collect()
            gc.freeze()

    app = BrokerApp(
        title="Discretion broker",
        version="0.1.0",
        description="Inter-agent authorization and discretion broker. See docs/api.md.",
        lifespan=lifespan,
        # Served by install_docs_pages from local assets, not FastAPI's CDN pages.
        docs_url=None,
        redoc_url=None,
    )
    install_docs_pages(app)
    app.state.ctx = ctx
    app.state.oauth = OAuthService(ctx)
    resilience = (
        None
        if settings.resilience_mode == "off"
        else Resilience(ctx, lead=settings.resilience_detector == "worker")
    )
    app.state.resilience = resilience
    if resilience is not None:
        app.state.oauth.guard = resilience.guard
    app.state.admin = AdminService(ctx)
    app.state.me = MeService(ctx)
    app.state.organizations = OrganizationService(ctx)
    audit_log = AuditLog(ctx, kek)
    app.state.audit_log = audit_log
    app.state.audit_queries = AuditQueries(ctx)
    app.state.console_reads = ConsoleService(ctx, audit_log, app.state.audit_queries)
    app.state.disclose = DiscloseService(ctx)
    app.state.metadata = oauth_routes.metadata_document(settings.issuer)
    app.include_router(oauth_routes.router)
    app.include_router(admin_routes.router)
    app.include_router(organization_routes.router)
    app.include_router(me_routes.router)
    app.include_router(audit_routes.router)
    app.include_router(disclose_routes.router)
    app.include_router(resilience_routes.router)
    app.include_router(key_routes.router)

    @app.get("/live", tags=["health"])
    async def live() -> dict[str, str]:
        """The process is up. Async on purpose: a sync route waits for the thread pool, which
        database-bound routes can fill, and a probe queued there would get a busy process killed."""
        return {"status": "ok"}

    @app.get("/metrics", tags=["health"], include_in_schema=False)
    def metrics(request: Request) -> Response:
        """Prometheus metrics: requests, latency, decisions by reason (scrape token required)."""
        if settings.metrics_token is None:
            return Response(status_code=404)
        if not metrics_allowed(request.headers.get("authorization"), settings.metrics_token):
            return Response(status_code=401, headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
        return metrics_response()

    @app.get("/ready", tags=["health"])
    def ready() -> dict[str, str]:
        """The store answers (a database error becomes a 503 through the error handlers)."""
        store.ping()
        return {"status": "ready"}

    install_error_handlers(app)
    install_console(app, settings)  # /console: server-rendered pages, CSP on those paths only
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(NulInTarget)
    app.add_middleware(MetricsMiddleware)
    app.serve_tokens_first(app.state.oauth, settings.max_body_bytes)
    return app

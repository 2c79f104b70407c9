"""Disclosure: a holder shares a user's data with a token's bearer, redacted, and the log records it.

Authentication and the token check run on a read snapshot, redaction runs outside any transaction
(it is CPU work with a time budget), and the write transaction spends the assertion, re-checks that
the token is still live and appends the log record: no disclosure is returned without its record.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import secrets
import threading
from pathlib import Path
from typing import Any

from discretion_wire import b64url_decode, b64url_encode

from broker import strict_json
from broker.context import ServiceContext
from broker.errors import Forbidden, InvalidRequest, PayloadTooLarge, SlowDown, Unprocessable
from broker.grantlog import events
from broker.oauth.access_tokens import read_own_token
from broker.oauth.client_auth import spend_assertion, verify_assertion
from broker.redaction import (
    DisclosurePolicy,
    Operator,
    RedactionError,
    Redactor,
    entities,
    load_config,
)
from broker.settings import Settings
from broker.storage import agents as agent_store
from broker.storage import budgets
from broker.storage import grants as grant_store
from broker.storage import tokens as token_store

log = logging.getLogger(__name__)
_FIELDS = frozenset({"token", "data", "operator"})


def load_redaction_secret(settings: Settings) -> bytes:
    """The pseudonym secret from the settings, or (development only) from a 0600 file."""
    if settings.redaction_secret:
        raw = settings.redaction_secret
    else:
        path = Path(settings.data_dir) / "redaction.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another worker created it first
                pass
            else:
                with os.fdopen(fd, "w") as handle:
                    handle.write(b64url_encode(secrets.token_bytes(32)))
        raw = path.read_text().strip()
    secret = b64url_decode(raw)
    if len(secret) < 32:
        raise ValueError("the redaction secret must be at least 32 bytes, base64url-encoded")
    return secret


def build_redactor(settings: Settings) -> Redactor:
    """A redactor for these settings (loads the name lists, and the spaCy model if one is set)."""
    config = load_config(settings.redaction_config) if settings.redaction_config else None
    if config is not None:
        entities.register(config.entity_types())
    return Redactor(
        secret=load_redaction_secret(settings),
        spacy_model=settings.spacy_model,
        config=config,
        max_depth=settings.redaction_max_depth,
        time_budget=settings.redaction_time_budget_ms / 1000,
    )


def redaction_mode(settings: Settings) -> str:
    """What the broker will run, said at start without loading anything heavy.

    The deployment's recognizer config is read here too, so that grants and `--reveal` accept its
    entity types before the first disclosure builds the engine.
    """
    if settings.redaction_config:
        entities.register(load_config(settings.redaction_config).entity_types())
    if settings.spacy_model:
        return f"spaCy NER with {settings.spacy_model!r} (installed model; never downloaded)"
    return (
        "no spaCy model: person names and places from field names, propagation, Faker's name lists, "
        "pycountry subdivisions and cue words (set DISCRETION_SPACY_MODEL to an installed model for NER)"
    )


def parse_body(raw: bytes, *, max_depth: int) -> tuple[str, Any, Operator | None]:
    """The token, the data and the operator of a disclose request."""
    # +1: the envelope object is one level above the data.
    if not strict_json.depth_within(raw, max_depth + 1):
        raise PayloadTooLarge(f"the data is nested deeper than {max_depth} levels")
    try:
        # Data to redact may hold many values; its size is bounded by the body limit instead.
        body = strict_json.loads(raw, max_depth=max_depth + 1, max_members=None, nul_allowed=True)
    except strict_json.StrictJSONError as exc:
        raise InvalidRequest(f"the body is not strict JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object")
    unknown = set(body) - _FIELDS
    if unknown:
        raise Unprocessable(f"unknown fields: {', '.join(sorted(unknown))}")
    token, operator = body.get("token"), body.get("operator")
    if not isinstance(token, str) or not token:
        raise Unprocessable("token must be the recipient's access token")
    if "data" not in body:
        raise Unprocessable("data is required")
    if operator is not None:
        try:
            operator = Operator(operator)
        except ValueError as exc:
            choices = ", ".join(o.value for o in Operator)
            raise Unprocessable(f"operator must be one of {choices}") from exc
    return token, body["data"], operator


class _Spent(Exception):
    """The grant's disclosure budget is spent (rolls the disclosure's write back)."""

    def __init__(self, limit: int) -> None:
        super().__init__("budget spent")
        self.limit = limit


class DiscloseService:
    """POST /v1/disclose."""

    def __init__(self, ctx: ServiceContext, *, default_operator: Operator = Operator.REPLACE) -> None:
        self._ctx = ctx
        self._default_operator = default_operator
        self._redactor: Redactor | None = None
        self._lock = threading.Lock()

    @property
    def redactor(self) -> Redactor:
        """Built on first use: every app in a test run need not load the name lists."""
        if self._redactor is None:
            with self._lock:
                if self._redactor is None:
                    self._redactor = build_redactor(self._ctx.settings)
                    log.info("redaction ready: mode=%s", self._redactor.mode)
        return self._redactor

    def disclose(self, assertion: str, raw: bytes) -> dict[str, Any]:
        """Authenticate the holder, check the recipient's token, redact, log, answer."""
        settings = self._ctx.settings
        now = self._ctx.clock()
        # Authentication comes first: a caller without valid credentials learns nothing about
        # what the body should look like.
        with self._ctx.store.read() as conn:
            verified = verify_assertion(conn, assertion, settings=settings, now=now)
        try:
            token, data, operator = parse_body(raw, max_depth=settings.redaction_max_depth)
            with self._ctx.store.read() as conn:
                claims = read_own_token(conn, token, issuer=settings.issuer)
                record = token_store.get_token(conn, str(claims["jti"])) if claims else None
                holder = agent_store.get_agent(conn, verified.agent.client_id)
            if claims is None or record is None or holder is None:
                raise Forbidden("the token is not active or not addressed to the caller")
            self._check_live(record, claims, holder.resource_uris, now)
            reveal = claims.get("reveal") or []
            policy = DisclosurePolicy(
                reveal=frozenset(str(r) for r in reveal if isinstance(r, str)),
                operator=operator or self._default_operator,
                recipient=record.client_id,
                subject=record.user_ref,
            )
            try:
                result = self.redactor.redact(data, policy)
            except RedactionError as exc:
                raise PayloadTooLarge(str(exc)) from exc
        except Exception:
            # The assertion is spent even when the request fails, so it cannot be replayed.
            with self._ctx.store.write() as conn:
                spend_assertion(conn, verified, now=now, skew=settings.clock_skew_seconds)
            raise
        output = events.canonical_json(result.data)
        digest = hashlib.sha256(output).hexdigest()
        event = events.Event(
            type=events.EventType.DATA_DISCLOSED,
            actors=(verified.agent.client_id, record.client_id),
            subject=record.user_ref,
            resource=record.audience,
            jti=record.jti,
            decision="allow",
            details={
                "holder": verified.agent.client_id,
                "recipient": record.client_id,
                "counts": result.report["counts"],
                "operator": result.report["operator"],
                "revealed": result.report["revealed"],
                "complete": result.report["complete"],
                "output_sha256": digest,
            },
        )
        try:
            with self._ctx.store.write() as conn:
                now = self._ctx.clock()
                spend_assertion(conn, verified, now=now, skew=settings.clock_skew_seconds)
                # Appending first takes the log head's lock; the token is re-checked after it, so
                # a block or revocation that commits first is seen and the disclosure rolls back.
                seq = events.append(conn, event, now=now)
                current = token_store.get_token(conn, record.jti)
                if current is None or token_store.revoked_ancestor(conn, current):
                    raise Forbidden("the token is not active or not addressed to the caller")
                self._check_live(current, claims, holder.resource_uris, now)
                grant = grant_store.get_grant(conn, current.user_ref, current.grant_id)
                limit = None if grant is None else grant.disclosures_per_day
                spent = (
                    limit is not None
                    and budgets.spend(conn, current.grant_id, budgets.DISCLOSURES, now) is None
                )
                if spent and limit is not None:
                    raise _Spent(limit)
        except _Spent as exhausted:
            self._refuse_spent(verified, record, exhausted.limit, now)
        except Forbidden:
            # The assertion is spent even when the disclosure is refused.
            with self._ctx.store.write() as conn:
                spend_assertion(conn, verified, now=now, skew=settings.clock_skew_seconds)
            raise
        return {
            "data": result.data,
            "report": result.report,
            "receipt_id": str(seq),
            "output_sha256": digest,
        }

    def _refuse_spent(self, verified: Any, record: token_store.TokenRecord, limit: int, now: float) -> None:
        """The grant's disclosures for today are spent: log it, spend the assertion, answer 429."""
        settings = self._ctx.settings
        with self._ctx.store.write() as conn:
            spend_assertion(conn, verified, now=now, skew=settings.clock_skew_seconds)
            events.append(
                conn,
                events.Event(
                    type=events.EventType.GRANT_BUDGET_EXHAUSTED,
                    actors=(verified.agent.client_id, record.client_id),
                    subject=record.user_ref,
                    resource=record.audience,
                    jti=record.jti,
                    decision="deny",
                    reasons=("budget_exhausted",),
                    details={"grant_id": record.grant_id, "disclosures_per_day": limit},
                ),
                now=now,
            )
        _, ends = budgets.window_of(budgets.DISCLOSURES, now)
        raise SlowDown(
            "the grant's disclosure budget for today is spent",
            headers={"Retry-After": str(max(1, math.ceil(ends - now)))},
        )

    def _check_live(
        self, record: token_store.TokenRecord, claims: dict[str, Any], resources: tuple[str, ...], now: float
    ) -> None:
        skew = self._ctx.settings.clock_skew_seconds
        if (
            record.revoked_at is not None
            or now >= record.expires_at
            or claims.get("nbf", 0) > now + skew
            or record.audience not in resources
        ):
            # One answer for revoked, expired, unknown and someone else's token.
            raise Forbidden("the token is not active or not addressed to the caller")

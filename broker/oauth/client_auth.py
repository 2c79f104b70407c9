"""`private_key_jwt` client authentication (RFC 7523 section 2.2 and section 3).

Verification reads only; consuming the assertion's `jti` is a separate write, so the token endpoint
can verify outside its short write transaction and spend inside it.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt

from broker.errors import InvalidClient, InvalidRequest
from broker.oauth.agent_keys import ALLOWED_ALGS, JwkError, find_key
from broker.oauth.jose import Compact, parse_compact, verify_signature
from broker.settings import Settings
from broker.storage import Connection
from broker.storage import agents as agent_store
from broker.storage import tokens as token_store

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_ASSERTION_LENGTH = 8192
# JWT types that must never pass as client assertions (RFC 8725 section 3.11: explicit typing).
_FOREIGN_TYPES = frozenset({"at+jwt", "dpop+jwt", "application/at+jwt", "application/dpop+jwt"})
_PURGE_ONE_IN = 256
log = logging.getLogger(__name__)
AgentLookup = Callable[[Connection, str], agent_store.AgentRecord | None]


@dataclass(frozen=True, slots=True)
class VerifiedAssertion:
    """A client assertion whose signature and claims checked out; its jti is not spent yet."""

    agent: agent_store.AgentRecord
    jti: str
    expires_at: float


class ReplayedAssertion(InvalidClient):
    """A valid assertion presented again: the same answer as any failure, but it names the agent
    whose key signed it, for the resilience signals (broker/resilience/guard.py)."""

    def __init__(self, client_id: str) -> None:
        super().__init__()
        self.client_id = client_id


def _fail(why: str) -> InvalidClient:
    # One answer for every cause; the cause goes to the operator's log without the assertion.
    log.info("client authentication failed: %s", why)
    return InvalidClient()


def _parsed(assertion: str) -> tuple[Compact, str, str, str]:
    """The assertion split and decoded, with its alg, kid and iss, read before the signature is
    checked only to find the key to check it with."""
    try:
        compact = parse_compact(assertion)
    except jwt.DecodeError as exc:
        raise _fail("malformed assertion") from exc
    header, claims = compact.header, compact.claims
    alg, kid, typ, iss = header.get("alg"), header.get("kid"), header.get("typ"), claims.get("iss")
    if alg not in ALLOWED_ALGS:
        raise _fail("algorithm not allowed")
    if not isinstance(kid, str) or not kid:
        raise _fail("no kid")
    if isinstance(typ, str) and typ.lower() in _FOREIGN_TYPES:
        raise _fail("token of another type used as an assertion")
    if not isinstance(iss, str) or not iss:
        raise _fail("no iss")
    # jku, x5u, x5c and jwk headers are deliberately ignored: keys come only from the registry.
    return compact, alg, kid, iss


def _check_claims(claims: dict[str, Any], client_id: str, audiences: tuple[str, ...]) -> str:
    """RFC 7523 section 3 items 1-3 and the jti; returns the jti. The rules PyJWT's decode
    applied here before (a claim that is null counts as missing, as there)."""
    for name in ("sub", "aud", "exp", "jti"):
        if claims.get(name) is None:
            raise _fail(f"assertion rejected: no {name}")
    if claims["sub"] != client_id:
        raise _fail("sub differs from iss")
    aud = claims["aud"]
    named = [aud] if isinstance(aud, str) else aud
    if not isinstance(named, list) or not all(isinstance(a, str) for a in named):
        raise _fail("assertion rejected: malformed aud")
    if not any(a in named for a in audiences):
        raise _fail("assertion rejected: not addressed to this broker")
    jti = claims["jti"]
    # Printable text only: a lone surrogate cannot be stored (a server error, not a refusal), and
    # control characters have no place in an identifier that reaches the logs.
    if not isinstance(jti, str) or not 0 < len(jti) <= 256 or not jti.isprintable():
        raise _fail("bad jti")
    return jti


def _check_times(claims: dict[str, Any], settings: Settings, now: float) -> float:
    skew = settings.clock_skew_seconds
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        raise _fail("no exp")
    if exp <= now - skew:
        raise _fail("expired assertion")
    if exp > now + settings.assertion_max_lifetime + skew:
        raise _fail("assertion exp too far ahead")
    for name in ("nbf", "iat"):
        value = claims.get(name)
        if value is not None and (not isinstance(value, int | float) or value > now + skew):
            raise _fail(f"{name} in the future")
    return float(exp)


def verify_assertion(
    conn: Connection,
    assertion: str,
    *,
    settings: Settings,
    now: float,
    claimed_client_id: str | None = None,
    find_agent: AgentLookup | None = None,
    reload_agent: AgentLookup | None = None,
) -> VerifiedAssertion:
    """Check a client assertion's signature and claims against the agent's registered keys.
    `find_agent` replaces the store read of the agent (the token path's AgentCache), and
    `reload_agent` reads it afresh when the remembered record has no key for the assertion."""
    if len(assertion) > MAX_ASSERTION_LENGTH:
        raise InvalidRequest("client_assertion is too long")
    compact, alg, kid, client_id = _parsed(assertion)
    if claimed_client_id is not None and claimed_client_id != client_id:
        raise _fail("client_id does not match the assertion")
    if find_agent is None:
        agent = agent_store.get_agent(conn, client_id, with_resources=False)
    else:
        agent = find_agent(conn, client_id)
    if agent is None:
        raise _fail("unknown client")
    try:
        key = find_key(agent.jwks, kid, alg, now=now)
        if key is None and reload_agent is not None:
            # A remembered record may predate a rotation that added this key: read it afresh
            # (only on this failure path, so the token path reads nothing more).
            agent = reload_agent(conn, client_id)
            key = None if agent is None else find_key(agent.jwks, kid, alg, now=now)
    except JwkError as exc:
        raise _fail("unusable registered key") from exc
    if agent is None:
        raise _fail("unknown client")
    if key is None:
        raise _fail("no registered key for kid and alg")
    if not verify_signature(compact, key, alg):
        raise _fail("assertion rejected: InvalidSignatureError")
    claims = compact.claims
    jti = _check_claims(claims, client_id, (settings.issuer, settings.token_endpoint))
    exp = _check_times(claims, settings, now)
    if agent.suspended:
        raise _fail("agent suspended")
    return VerifiedAssertion(agent=agent, jti=jti, expires_at=exp + settings.clock_skew_seconds)


def spend_assertion(conn: Connection, verified: VerifiedAssertion, *, now: float, skew: int) -> None:
    """Spend the assertion's jti: RFC 7523 section 3 item 7, single use until it expires."""
    if not spend_assertions(conn, [verified], now=now, skew=skew):
        log.info("client authentication failed: replayed assertion")
        raise ReplayedAssertion(verified.agent.client_id)


def spend_assertions(conn: Connection, spent: list[VerifiedAssertion], *, now: float, skew: int) -> bool:
    """Spend several assertions' jtis; False when any was used before (the caller rolls back)."""
    first_use = token_store.spend_assertion_jtis(
        conn, [(verified.agent.client_id, verified.jti, verified.expires_at) for verified in spent]
    )
    if first_use:
        purge_sometimes(conn, len(spent), now=now, skew=skew)
    return first_use


def purge_sometimes(conn: Connection, spends: int, *, now: float, skew: int) -> None:
    """After `spends` first uses: purge the expired ids, on one spend in _PURGE_ONE_IN on average,
    batched or not."""
    if secrets.randbelow(_PURGE_ONE_IN) < spends:
        token_store.purge_assertion_jtis(conn, now - skew)


def assertion_from_form(form: dict[str, str]) -> str:
    """The client assertion of a form request; private_key_jwt is the only method."""
    if form.get("client_assertion_type") != ASSERTION_TYPE or "client_assertion" not in form:
        raise InvalidClient("private_key_jwt client authentication is required")
    return form["client_assertion"]


def authenticate_assertion(
    conn: Connection,
    assertion: str,
    *,
    settings: Settings,
    now: float,
    claimed_client_id: str | None = None,
) -> agent_store.AgentRecord:
    """Verify and spend an assertion in one (write) transaction; returns the agent."""
    verified = verify_assertion(
        conn, assertion, settings=settings, now=now, claimed_client_id=claimed_client_id
    )
    spend_assertion(conn, verified, now=now, skew=settings.clock_skew_seconds)
    return verified.agent


def authenticate_client(
    conn: Connection, form: dict[str, str], *, settings: Settings, now: float
) -> agent_store.AgentRecord:
    """Authenticate the client of a form request (introspection, revocation)."""
    return authenticate_assertion(
        conn, assertion_from_form(form), settings=settings, now=now, claimed_client_id=form.get("client_id")
    )

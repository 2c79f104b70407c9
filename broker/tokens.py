"""Minting the broker's access tokens (RFC 9068) and reading them back for introspection."""

from __future__ import annotations

import json
import secrets
from typing import Any

import jwt
from sqlalchemy import Connection, select

from broker.agent_keys import load_key
from broker.jose import JWT
from broker.keys import SIGNING_ALG, SigningKey
from broker.storage.schema import signing_keys

ACCESS_TOKEN_TYPE = "at+jwt"
_VERIFY_KEYS: dict[str, Any] = {}


def new_jti() -> str:
    """A 128-bit random token id."""
    return secrets.token_urlsafe(16)


def mint(key: SigningKey, claims: dict[str, Any]) -> str:
    """Sign access-token claims with the current key; `typ` is explicit (RFC 9068 section 2.1)."""
    return JWT.encode(
        claims, key.private_key, algorithm=SIGNING_ALG, headers={"typ": ACCESS_TOKEN_TYPE, "kid": key.kid}
    )


def read_own_token(conn: Connection, token: str, *, issuer: str) -> dict[str, Any] | None:
    """The claims of a token this broker signed, or None for anything else.

    Expiry is not checked here: callers decide with their own clock what an expired token means.
    """
    if len(token) > 8192:
        return None
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        return None
    # Pinned: only our algorithm, only our token type, only keys from our own table.
    if header.get("alg") != SIGNING_ALG or header.get("typ") != ACCESS_TOKEN_TYPE:
        return None
    kid = header.get("kid")
    if not isinstance(kid, str):
        return None
    key = _VERIFY_KEYS.get(kid)
    if key is None:
        row = conn.execute(select(signing_keys.c.public_jwk).where(signing_keys.c.kid == kid)).first()
        if row is None:
            return None
        key = load_key(json.loads(row.public_jwk), SIGNING_ALG)
        # A kid is the thumbprint of its key (RFC 7638), so a cached entry can never go stale.
        if len(_VERIFY_KEYS) < 64:
            _VERIFY_KEYS[kid] = key
    try:
        claims: dict[str, Any] = JWT.decode(
            token,
            key,
            algorithms=[SIGNING_ALG],
            issuer=issuer,
            options={
                "verify_aud": False,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "require": ["iss", "sub", "aud", "exp", "jti", "client_id"],
            },
        )
    except jwt.PyJWTError:
        return None
    return claims

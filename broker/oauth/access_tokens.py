"""Minting the broker's access tokens (RFC 9068) and reading them back for introspection."""

from __future__ import annotations

import json
import secrets
from functools import lru_cache
from typing import Any

import jwt
from jwt.utils import base64url_encode

from broker.oauth.agent_keys import load_key
from broker.oauth.jose import encode_header, encode_json, parse_compact, sign, verify_signature
from broker.oauth.signing_keys import SIGNING_ALGS, SigningKey
from broker.storage import Connection
from broker.storage import signing_keys as key_store

ACCESS_TOKEN_TYPE = "at+jwt"
# kid -> (alg, key): the algorithm is the one the key's own JWK pins, never the token's header.
_VERIFY_KEYS: dict[str, tuple[str, Any]] = {}
_REQUIRED_CLAIMS = ("iss", "sub", "aud", "exp", "jti", "client_id")


def new_jti() -> str:
    """A 128-bit random token id."""
    return secrets.token_urlsafe(16)


def mint(key: SigningKey, claims: dict[str, Any]) -> str:
    """Sign access-token claims with the current key; `typ` is explicit (RFC 9068 section 2.1).
    The same bytes as PyJWT's encode, without re-encoding the header for every token."""
    signing_input = _header_segment(key.kid, key.alg) + b"." + base64url_encode(encode_json(claims))
    return (signing_input + b"." + sign(signing_input, key.private_key, key.alg)).decode()


@lru_cache(maxsize=16)
def _header_segment(kid: str, alg: str) -> bytes:
    return encode_header({"alg": alg, "kid": kid, "typ": ACCESS_TOKEN_TYPE})


def read_own_token(conn: Connection, token: str, *, issuer: str) -> dict[str, Any] | None:
    """The claims of a token this broker signed, or None for anything else.

    Expiry is not checked here: callers decide with their own clock what an expired token means.
    """
    if len(token) > 8192:
        return None
    try:
        compact = parse_compact(token)
    except jwt.DecodeError:
        return None
    header, claims = compact.header, compact.claims
    # Pinned: only our token type, only keys from our own table, each with the algorithm its
    # stored JWK names (the header's alg must agree).
    if header.get("typ") != ACCESS_TOKEN_TYPE:
        return None
    kid = header.get("kid")
    if not isinstance(kid, str):
        return None
    pinned = _VERIFY_KEYS.get(kid)
    if pinned is None:
        text = key_store.public_jwk(conn, kid)
        if text is None:
            return None
        jwk = json.loads(text)
        alg = jwk.get("alg")
        if alg not in SIGNING_ALGS:
            return None
        pinned = (alg, load_key(jwk, alg))
        # A kid is the thumbprint of its key (RFC 7638), so a cached entry can never go stale.
        if len(_VERIFY_KEYS) < 64:
            _VERIFY_KEYS[kid] = pinned
    alg, key = pinned
    if header.get("alg") != alg or not verify_signature(compact, key, alg):
        return None
    if any(claims.get(name) is None for name in _REQUIRED_CLAIMS) or claims["iss"] != issuer:
        return None
    if not isinstance(claims["sub"], str) or not isinstance(claims["jti"], str):
        return None
    return claims

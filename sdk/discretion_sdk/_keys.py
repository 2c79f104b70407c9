"""An agent's key pair: generate it, save and load the private key, publish the public JWKS.

The broker authenticates an agent by the signature of its client assertions (`private_key_jwt`,
RFC 7523): the agent keeps the PRIVATE key (`private_key` of BrokerClient) and an admin registers
the PUBLIC half as a JWK Set (RFC 7517) in `POST /v1/agents`, each key with a `kid` that the
agent's assertions name. Supported keys: Ed25519 (EdDSA, the default), P-256 (ES256) and RSA of
at least 2048 bits (PS256 or RS256).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from ._assertion import PrivateKey, infer_algorithm
from ._jose import public_jwk

__all__ = ["generate_key", "load_private_key", "private_key_pem", "public_jwks", "save_private_key"]

_RSA_BITS = 3072


def generate_key(alg: str = "EdDSA") -> PrivateKey:
    """A new private key for `alg`: "EdDSA" (Ed25519), "ES256" (P-256), or "PS256"/"RS256" (RSA)."""
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg in ("PS256", "RS256"):
        return rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS)
    raise ValueError(f"unsupported alg {alg!r}: use EdDSA, ES256, PS256 or RS256")


def _checked(key: object) -> PrivateKey:
    if isinstance(key, (ed25519.Ed25519PublicKey, ec.EllipticCurvePublicKey, rsa.RSAPublicKey)):
        raise ValueError("this is a public key; the agent needs its private key")
    if not isinstance(key, (ed25519.Ed25519PrivateKey, ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
        raise ValueError(f"unsupported key type {type(key).__name__}: use Ed25519, P-256 or RSA")
    infer_algorithm(key)  # refuses other curves and short RSA keys
    return key


def load_private_key(
    source: str | bytes | os.PathLike[str] | Mapping[str, Any], *, password: bytes | None = None
) -> PrivateKey:
    """Load an agent's private key from a PEM file path, PEM text, or a private JWK.

    `source` may be a path (`Path` or a string that is not PEM or JSON), PEM bytes or text
    (PKCS#8 `BEGIN PRIVATE KEY`, or the traditional EC/RSA forms), a JWK as a dict or JSON text
    (it must have the private member `d`). `password` decrypts an encrypted PEM.
    """
    if isinstance(source, Mapping):
        return _from_jwk(source)
    if isinstance(source, os.PathLike):
        data = Path(source).read_bytes()
    elif isinstance(source, str):
        inline = source.lstrip().startswith(("-----BEGIN", "{"))
        data = source.encode("utf-8") if inline else Path(source).read_bytes()
    else:
        data = source
    if data.lstrip().startswith(b"{"):
        try:
            document = json.loads(data)
        except ValueError as exc:
            raise ValueError("the key is neither PEM nor a JSON JWK") from exc
        if not isinstance(document, dict):
            raise ValueError("a JWK must be a JSON object")
        return _from_jwk(document)
    try:
        key = serialization.load_pem_private_key(data, password=password)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"cannot load the PEM private key: {exc}") from exc
    return _checked(key)


def _from_jwk(jwk: Mapping[str, Any]) -> PrivateKey:
    if "d" not in jwk:
        raise ValueError("this JWK has no private member 'd': the agent needs its private key")
    try:
        key = jwt.PyJWK(dict(jwk)).key
    except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError) as exc:
        raise ValueError(f"cannot load the JWK: {exc}") from exc
    return _checked(key)


def private_key_pem(key: PrivateKey, *, password: bytes | None = None) -> bytes:
    """The private key as PKCS#8 PEM, encrypted with `password` if one is given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    )
    return _checked(key).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def save_private_key(path: str | os.PathLike[str], key: PrivateKey, *, password: bytes | None = None) -> None:
    """Write the private key as PKCS#8 PEM to a NEW file readable by its owner only (0600).

    An existing file is never overwritten (FileExistsError): a lost key means re-registering.
    """
    pem = private_key_pem(key, password=password)
    # O_EXCL: never follow a planted symlink or replace a key; the mode applies at creation.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)


def public_jwks(key: PrivateKey, kid: str, *, alg: str | None = None) -> dict[str, Any]:
    """The public JWK Set to register for this key (the `jwks` of `POST /v1/agents`).

    The set has one public key (no private members) with `kid` (the agent passes the same `kid` to
    BrokerClient), `use` "sig" and `alg` (inferred from the key unless given). An agent that
    rotates keys registers a set with both keys; list the key it signs DPoP proofs with first.
    """
    if not isinstance(kid, str) or not 0 < len(kid) <= 128:
        raise ValueError("kid must be 1-128 characters")
    algorithm = infer_algorithm(_checked(key), alg)
    return {"keys": [{**public_jwk(key), "kid": kid, "use": "sig", "alg": algorithm}]}

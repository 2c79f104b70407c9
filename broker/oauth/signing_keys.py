"""The broker's token-signing keys, kept in the database sealed under a key-encryption key.

One algorithm signs at a time (the `access_token_signing_alg` setting): EdDSA (Ed25519, the
default and the fastest), ES256 (P-256) or RS256 (RSA 2048), the one RFC 9068 section 2.1 requires
every resource server to support. Changing the setting rotates to a key of the new algorithm at the
next start; the retired keys stay published until their tokens have expired.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeAlias

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_der_private_key,
)
from discretion_wire import b64url_decode, b64url_encode, jwk_thumbprint

from broker.settings import Settings
from broker.storage import Connection
from broker.storage import signing_keys as store
from broker.storage.db import Store

SIGNING_ALG = "EdDSA"  # the default
SIGNING_ALGS = ("EdDSA", "ES256", "RS256")
_RSA_BITS = 2048
_KEY_CACHE_SECONDS = 30.0
PrivateSigningKey: TypeAlias = Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def generate_private_key(alg: str) -> PrivateSigningKey:
    """A new private key for one of SIGNING_ALGS."""
    if alg == "EdDSA":
        return Ed25519PrivateKey.generate()
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS)
    raise ValueError(f"unsupported signing alg {alg!r}: use one of {', '.join(SIGNING_ALGS)}")


def _private_bytes(key: PrivateSigningKey) -> bytes:
    # Ed25519 keys stay raw (as keys sealed before ES256 and RS256 existed); the others PKCS#8 DER.
    if isinstance(key, Ed25519PrivateKey):
        return key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())


def _private_key(alg: str, raw: bytes) -> PrivateSigningKey:
    if alg == "EdDSA":
        return Ed25519PrivateKey.from_private_bytes(raw)
    key = load_der_private_key(raw, password=None)
    expected = ec.EllipticCurvePrivateKey if alg == "ES256" else rsa.RSAPrivateKey
    if alg not in SIGNING_ALGS or not isinstance(key, expected):
        raise ValueError(f"a sealed key does not fit its alg {alg!r}")
    return key


def load_key_encryption_key(settings: Settings) -> bytes:
    """The KEK from the settings, or (development only) from a 0600 file in the data directory."""
    if settings.key_encryption_key:
        kek = b64url_decode(settings.key_encryption_key)
    else:
        path = Path(settings.data_dir) / "key-encryption.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(b64url_encode(secrets.token_bytes(32)))
        kek = b64url_decode(path.read_text().strip())
    if len(kek) != 32:
        raise ValueError("the key-encryption key must be 32 bytes, base64url-encoded")
    return kek


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A private signing key with its id; the key material never appears in repr."""

    kid: str
    private_key: PrivateSigningKey = field(repr=False)
    alg: str = SIGNING_ALG


class KeyRing:
    """Seals, unseals and caches signing keys; every replica sees the same keys. Creating and
    rotating one is logged by broker/services/signing_keys.py, in the same transaction."""

    def __init__(
        self,
        store: Store,
        kek: bytes,
        *,
        alg: str = SIGNING_ALG,
        refresh_seconds: float = _KEY_CACHE_SECONDS,
    ) -> None:
        if alg not in SIGNING_ALGS:
            raise ValueError(f"unsupported signing alg {alg!r}: use one of {', '.join(SIGNING_ALGS)}")
        self.alg = alg
        self._store = store
        self._aead = AESGCM(kek)
        self._lock = threading.Lock()
        self._current: SigningKey | None = None
        self._loaded_at = 0.0
        self._refresh_seconds = refresh_seconds

    def _seal(self, kid: str, key: PrivateSigningKey) -> bytes:
        nonce = secrets.token_bytes(12)
        return nonce + self._aead.encrypt(nonce, _private_bytes(key), kid.encode())

    def _unseal(self, kid: str, alg: str, sealed: bytes) -> PrivateSigningKey:
        raw = self._aead.decrypt(sealed[:12], sealed[12:], kid.encode())
        return _private_key(alg, raw)

    def create(self, conn: Connection, now: float) -> str:
        """Generate a key of this ring's algorithm and store it sealed, live, in the caller's
        transaction; returns its kid."""
        key = generate_private_key(self.alg)
        jwk = public_jwk(key.public_key(), self.alg)
        kid = jwk["kid"]
        store.insert_key(
            conn, kid=kid, alg=self.alg, public_jwk=json.dumps(jwk), sealed=self._seal(kid, key), now=now
        )
        return kid

    def live_kid(self, conn: Connection) -> str | None:
        """A live key's kid of this ring's algorithm, or None when there is none."""
        return store.any_live_kid(conn, alg=self.alg)

    def any_live(self, conn: Connection) -> bool:
        """Whether any key is live, of whatever algorithm."""
        return store.any_live_kid(conn) is not None

    def retire_live(self, conn: Connection, now: float) -> None:
        """Retire the live keys (they stay in the JWKS until every token they signed has expired);
        this process re-reads the current key at its next use."""
        store.retire_live(conn, now)
        self._loaded_at = float("-inf")

    def current(self) -> SigningKey:
        """The newest live signing key, re-read from the store every `refresh_seconds`, so every
        replica picks up a rotation without a restart."""
        now = time.monotonic()
        current = self._current
        if current is not None and now - self._loaded_at < self._refresh_seconds:
            return current
        with self._lock:
            with self._store.read() as conn:
                row = store.newest_live(conn, alg=self.alg)
            if row is None:
                raise RuntimeError(
                    f"no live {self.alg} signing key: run `discretion init` or start the broker once"
                )
            if current is None or current.kid != row.kid:
                key = self._unseal(row.kid, self.alg, row.private_key_sealed)
                current = SigningKey(kid=row.kid, private_key=key, alg=self.alg)
            self._current, self._loaded_at = current, now
            return current

    def jwks(self, *, now: float, overlap_seconds: float) -> dict[str, list[dict[str, str]]]:
        """The public keys holders verify tokens with: the current key, and retired keys until the
        last token they can have signed has expired (`overlap_seconds` after retirement)."""
        with self._store.read() as conn:
            texts = store.published_jwks(conn, retired_after=now - overlap_seconds)
        return {"keys": [json.loads(text) for text in texts]}


def _unsigned(value: int, length: int | None = None) -> str:
    return b64url_encode(value.to_bytes(length or max(1, (value.bit_length() + 7) // 8), "big"))


def public_jwk(
    key: Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey, alg: str = SIGNING_ALG
) -> dict[str, str]:
    """The public JWK (RFC 8037, RFC 7518 section 6) of a signing key, with its thumbprint as kid
    and its algorithm pinned in `alg`."""
    jwk: dict[str, str]
    if isinstance(key, Ed25519PublicKey):
        jwk = {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": b64url_encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw)),
        }
    elif isinstance(key, ec.EllipticCurvePublicKey):
        numbers = key.public_numbers()
        # RFC 7518 section 6.2.1.2: the full 32 bytes of each coordinate, leading zeros kept.
        jwk = {"kty": "EC", "crv": "P-256", "x": _unsigned(numbers.x, 32), "y": _unsigned(numbers.y, 32)}
    else:
        rsa_numbers = key.public_numbers()
        jwk = {"kty": "RSA", "e": _unsigned(rsa_numbers.e), "n": _unsigned(rsa_numbers.n)}
    return {**jwk, "kid": jwk_thumbprint(jwk), "alg": alg, "use": "sig"}

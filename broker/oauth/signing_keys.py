"""The broker's token-signing keys: Ed25519, kept in the database sealed under a key-encryption key."""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from discretion_wire import b64url_decode, b64url_encode, jwk_thumbprint

from broker.settings import Settings
from broker.storage import Connection
from broker.storage import signing_keys as store
from broker.storage.db import Store

SIGNING_ALG = "EdDSA"
_KEY_CACHE_SECONDS = 30.0


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
    private_key: Ed25519PrivateKey = field(repr=False)


class KeyRing:
    """Seals, unseals and caches signing keys; every replica sees the same keys. Creating and
    rotating one is logged by broker/services/signing_keys.py, in the same transaction."""

    def __init__(self, store: Store, kek: bytes, *, refresh_seconds: float = _KEY_CACHE_SECONDS) -> None:
        self._store = store
        self._aead = AESGCM(kek)
        self._lock = threading.Lock()
        self._current: SigningKey | None = None
        self._loaded_at = 0.0
        self._refresh_seconds = refresh_seconds

    def _seal(self, kid: str, key: Ed25519PrivateKey) -> bytes:
        nonce = secrets.token_bytes(12)
        raw = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return nonce + self._aead.encrypt(nonce, raw, kid.encode())

    def _unseal(self, kid: str, sealed: bytes) -> Ed25519PrivateKey:
        raw = self._aead.decrypt(sealed[:12], sealed[12:], kid.encode())
        return Ed25519PrivateKey.from_private_bytes(raw)

    def create(self, conn: Connection, now: float) -> str:
        """Generate a key and store it sealed, live, in the caller's transaction; returns its kid."""
        key = Ed25519PrivateKey.generate()
        jwk = public_jwk(key.public_key())
        kid = jwk["kid"]
        store.insert_key(
            conn, kid=kid, alg=SIGNING_ALG, public_jwk=json.dumps(jwk), sealed=self._seal(kid, key), now=now
        )
        return kid

    def live_kid(self, conn: Connection) -> str | None:
        """A live key's kid, or None when there is none."""
        return store.any_live_kid(conn)

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
                row = store.newest_live(conn)
            if row is None:
                raise RuntimeError("no signing key: run `discretion init` or start the broker once")
            if current is None or current.kid != row.kid:
                current = SigningKey(kid=row.kid, private_key=self._unseal(row.kid, row.private_key_sealed))
            self._current, self._loaded_at = current, now
            return current

    def jwks(self, *, now: float, overlap_seconds: float) -> dict[str, list[dict[str, str]]]:
        """The public keys holders verify tokens with: the current key, and retired keys until the
        last token they can have signed has expired (`overlap_seconds` after retirement)."""
        with self._store.read() as conn:
            texts = store.published_jwks(conn, retired_after=now - overlap_seconds)
        return {"keys": [json.loads(text) for text in texts]}


def public_jwk(key: Ed25519PublicKey) -> dict[str, str]:
    """The public JWK (RFC 8037) of an Ed25519 key, with its thumbprint as kid."""
    raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(raw)}
    return {**jwk, "kid": jwk_thumbprint(jwk), "alg": SIGNING_ALG, "use": "sig"}

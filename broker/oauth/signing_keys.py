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
from sqlalchemy import Connection, insert, or_, select, update

from broker.grantlog import events
from broker.settings import Settings
from broker.storage.db import Store
from broker.storage.schema import signing_keys

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
    """Reads signing keys from the store; every replica sees the same keys."""

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

    def _create(self, conn: Connection, now: float, event: events.EventType) -> str:
        key = Ed25519PrivateKey.generate()
        jwk = public_jwk(key.public_key())
        kid = jwk["kid"]
        conn.execute(
            insert(signing_keys).values(
                kid=kid,
                alg=SIGNING_ALG,
                public_jwk=json.dumps(jwk),
                private_key_sealed=self._seal(kid, key),
                created_at=now,
            )
        )
        events.append(conn, events.Event(type=event, kid=kid), now=now)
        return kid

    def ensure_key(self, *, now: float | None = None) -> str:
        """Create a signing key when the store has none; returns the current kid."""
        with self._store.write() as conn:
            row = conn.execute(
                select(signing_keys.c.kid).where(signing_keys.c.retired_at.is_(None)).limit(1)
            ).first()
            if row is not None:
                return str(row.kid)
            return self._create(
                conn, now if now is not None else time.time(), events.EventType.SIGNING_KEY_CREATED
            )

    def rotate(self, *, now: float | None = None) -> str:
        """Make a new signing key current and retire the old ones, which stay in the JWKS until
        every token they signed has expired; returns the new kid."""
        moment = now if now is not None else time.time()
        with self._store.write() as conn:
            conn.execute(
                update(signing_keys).where(signing_keys.c.retired_at.is_(None)).values(retired_at=moment)
            )
            kid = self._create(conn, moment, events.EventType.SIGNING_KEY_ROTATED)
        self._loaded_at = float("-inf")
        return kid

    def current(self) -> SigningKey:
        """The newest live signing key, re-read from the store every `refresh_seconds`, so every
        replica picks up a rotation without a restart."""
        now = time.monotonic()
        current = self._current
        if current is not None and now - self._loaded_at < self._refresh_seconds:
            return current
        with self._lock:
            with self._store.read() as conn:
                row = conn.execute(
                    select(signing_keys.c.kid, signing_keys.c.private_key_sealed)
                    .where(signing_keys.c.retired_at.is_(None))
                    .order_by(signing_keys.c.created_at.desc())
                    .limit(1)
                ).first()
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
            rows = conn.execute(
                select(signing_keys.c.public_jwk)
                .where(
                    or_(
                        signing_keys.c.retired_at.is_(None), signing_keys.c.retired_at > now - overlap_seconds
                    )
                )
                .order_by(signing_keys.c.created_at.desc())
            ).all()
        return {"keys": [json.loads(row.public_jwk) for row in rows]}


def public_jwk(key: Ed25519PublicKey) -> dict[str, str]:
    """The public JWK (RFC 8037) of an Ed25519 key, with its thumbprint as kid."""
    raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(raw)}
    return {**jwk, "kid": jwk_thumbprint(jwk), "alg": SIGNING_ALG, "use": "sig"}

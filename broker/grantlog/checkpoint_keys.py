"""The keys that sign grant-log checkpoints, sealed under the KEK like the token keys but kept
apart from them: a separate table, a separate AEAD context, and their own rotation."""

from __future__ import annotations

import secrets

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from broker.grantlog.checkpoints import Signer, Verifier
from broker.storage import Connection
from broker.storage import checkpoint_keys as store

# Bound into the AEAD so that a sealed token key can never be unsealed as a checkpoint key.
_AAD_PREFIX = b"discretion/checkpoint-key:"


class CheckpointKeys:
    """Creates, rotates and unseals checkpoint signing keys; retired keys stay for verifying."""

    def __init__(self, kek: bytes, name: str) -> None:
        self._aead = AESGCM(kek)
        self.name = name

    def _seal(self, key_id: str, key: Ed25519PrivateKey) -> bytes:
        nonce = secrets.token_bytes(12)
        raw = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return nonce + self._aead.encrypt(nonce, raw, _AAD_PREFIX + key_id.encode())

    def _unseal(self, key_id: str, sealed: bytes) -> Ed25519PrivateKey:
        raw = self._aead.decrypt(sealed[:12], sealed[12:], _AAD_PREFIX + key_id.encode())
        return Ed25519PrivateKey.from_private_bytes(raw)

    def _create(self, conn: Connection, now: float) -> tuple[str, Signer]:
        signer = Signer(self.name, Ed25519PrivateKey.generate())
        verifier = signer.verifier
        key_id = f"{verifier.name}+{verifier.key_hash.hex()}"
        store.insert_key(
            conn,
            key_id=key_id,
            name=self.name,
            verifier_key=verifier.encoded,
            sealed=self._seal(key_id, signer.private_key),
            now=now,
        )
        return key_id, signer

    def current(self, conn: Connection, *, now: float) -> tuple[str, Signer]:
        """The live signing key (created on first use), inside the caller's write transaction."""
        row = store.live_key(conn)
        if row is None:
            return self._create(conn, now)
        return row.key_id, Signer(row.name, self._unseal(row.key_id, row.private_key_sealed))

    def rotate(self, conn: Connection, *, now: float) -> str:
        """Retire the live key and create a new one; returns the new key id."""
        store.retire_live(conn, now)
        return self._create(conn, now)[0]


def all_verifiers(conn: Connection) -> list[dict[str, object]]:
    """Every checkpoint key ever used, newest first, with its verifier key string."""
    return [
        {
            "key_id": row.key_id,
            "verifier_key": row.verifier_key,
            "created_at": row.created_at,
            "retired_at": row.retired_at,
        }
        for row in store.all_keys(conn)
    ]


def verifiers_by_id(conn: Connection) -> dict[str, Verifier]:
    """Every checkpoint key as a Verifier, by key id."""
    return {row.key_id: Verifier.parse(row.verifier_key) for row in store.all_keys(conn)}

"""Signed checkpoints of the grant log in the C2SP formats (tlog-checkpoint inside a signed note).

The note parts are standard library plus `cryptography`, so the offline verifier shares them.
A checkpoint body is `<origin>\\n<tree size>\\n<base64 root hash>\\n` followed by extension lines;
ours carries one, `time <unix ms>`. Signature lines are `— <key name> <base64(key hash || sig)>`
(C2SP signed-note, Ed25519 signature type 0x01).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

_ED25519 = b"\x01"  # C2SP signed-note signature type for Ed25519
_SIG_PREFIX = "\u2014 "  # em dash and space start every signature line
_NAME = re.compile(r"[^\s+]{1,200}")


class NoteError(ValueError):
    """A note or checkpoint is malformed or its signature does not verify."""


class UnknownKeyError(NoteError):
    """No signature on the note is by a key the verifier trusts."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise NoteError("bad base64") from exc


def key_hash(name: str, public_key: bytes) -> bytes:
    """C2SP signed-note key ID: the first 4 bytes of SHA-256(name || 0x0A || 0x01 || key)."""
    return hashlib.sha256(name.encode() + b"\n" + _ED25519 + public_key).digest()[:4]


@dataclass(frozen=True, slots=True)
class Verifier:
    """A trusted public key: name, key hash and raw Ed25519 key."""

    name: str
    key_hash: bytes
    public_key: bytes

    @property
    def encoded(self) -> str:
        """The verifier key string `<name>+<hex key hash>+<base64(0x01 || key)>`."""
        return f"{self.name}+{self.key_hash.hex()}+{_b64(_ED25519 + self.public_key)}"

    @classmethod
    def parse(cls, text: str) -> Verifier:
        """Read a verifier key string; the key hash must match the key."""
        name, sep, rest = text.strip().partition("+")
        hash_hex, sep2, key_b64 = rest.partition("+")
        raw = _unb64(key_b64) if sep and sep2 else b""
        if not _NAME.fullmatch(name) or len(raw) != 33 or raw[:1] != _ED25519:
            raise NoteError("not an Ed25519 verifier key string")
        verifier = cls(name, key_hash(name, raw[1:]), raw[1:])
        if verifier.key_hash.hex() != hash_hex.lower():
            raise NoteError("verifier key hash does not match its key")
        return verifier


@dataclass(frozen=True, slots=True)
class Signer:
    """A named Ed25519 private key that signs notes; the key never appears in repr."""

    name: str
    private_key: Ed25519PrivateKey = field(repr=False)

    @property
    def verifier(self) -> Verifier:
        """The matching public verifier."""
        raw = self.private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return Verifier(self.name, key_hash(self.name, raw), raw)

    def sign(self, text: str) -> str:
        """A signed note: the text, a blank line and this key's signature line."""
        if not text.endswith("\n"):
            raise NoteError("note text must end with a newline")
        signature = self.private_key.sign(text.encode())
        return f"{text}\n{_SIG_PREFIX}{self.name} {_b64(self.verifier.key_hash + signature)}\n"


def open_note(note: str, verifiers: list[Verifier]) -> tuple[str, Verifier]:
    """The note's text and the trusted key that signed it; raises NoteError or UnknownKeyError.

    Signatures by unknown keys are skipped (C2SP signed-note: a note may carry cosignatures),
    but a signature that claims a trusted key and fails is an error, not a skip.
    """
    text, sep, sigs = note.rpartition("\n\n")
    if not sep or not sigs.endswith("\n"):
        raise NoteError("not a signed note")
    text += "\n"
    trusted = {(v.name, v.key_hash): v for v in verifiers}
    for line in sigs[:-1].split("\n"):
        if not line.startswith(_SIG_PREFIX):
            raise NoteError("malformed signature line")
        name, _, sig_b64 = line[len(_SIG_PREFIX) :].rpartition(" ")
        raw = _unb64(sig_b64)
        verifier = trusted.get((name, raw[:4]))
        if verifier is None:
            continue
        try:
            Ed25519PublicKey.from_public_bytes(verifier.public_key).verify(raw[4:], text.encode())
        except InvalidSignature as exc:
            raise NoteError(f"bad signature by trusted key {verifier.name}+{raw[:4].hex()}") from exc
        return text, verifier
    raise UnknownKeyError("no signature by a trusted key (checkpoint signed by an unknown key)")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A tree head: origin, size, root hash and the time it was made (unix ms)."""

    origin: str
    size: int
    root: bytes
    time_ms: int

    def body(self) -> str:
        """The C2SP tlog-checkpoint text."""
        return f"{self.origin}\n{self.size}\n{_b64(self.root)}\ntime {self.time_ms}\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Read a checkpoint body (the text of a signed note)."""
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "" or not _decimal(lines[1]):
            raise NoteError("not a checkpoint")
        root = _unb64(lines[2])
        if len(root) != 32:
            raise NoteError("checkpoint root hash is not 32 bytes")
        times = [ln.removeprefix("time ") for ln in lines[3:-1] if ln.startswith("time ")]
        time_ms = int(times[0]) if times and _decimal(times[0]) else 0
        return cls(origin=lines[0], size=int(lines[1]), root=root, time_ms=time_ms)


def _decimal(text: str) -> bool:
    # ASCII digits only: str.isdigit() also accepts "²", which int() then refuses.
    return 0 < len(text) <= 20 and all("0" <= c <= "9" for c in text)


def verify_checkpoint(note: str, verifiers: list[Verifier], *, origin: str | None = None) -> Checkpoint:
    """Open a signed checkpoint with trusted keys; checks the origin when one is given."""
    text, _ = open_note(note, verifiers)
    checkpoint = Checkpoint.parse(text)
    if origin is not None and checkpoint.origin != origin:
        raise NoteError(f"checkpoint is for origin {checkpoint.origin!r}, not {origin!r}")
    return checkpoint

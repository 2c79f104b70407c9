"""Console sessions as signed, expiring cookies, and the CSRF tokens bound to them.

No session table (the schema is the migrations'): the cookie carries a random session id, the API
key id it was opened with and its times, MACed with a key derived from the key-encryption key. The
key itself is re-checked against the store on every request, so revoking an API key ends every
session opened with it. Sign-in always mints a new session id (OWASP session fixation), and the
CSRF token is an HMAC of that id, so a token from one session is worthless in another.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from discretion_wire import b64url_decode, b64url_encode

IDLE_SECONDS = 30 * 60
ABSOLUTE_SECONDS = 8 * 60 * 60
_MAX_COOKIE = 512


@dataclass(frozen=True, slots=True, kw_only=True)
class Session:
    """A verified session cookie: who (by API key id) and since when."""

    sid: str
    key_id: str
    issued_at: float
    seen_at: float


class SessionCodec:
    """Signs and checks session cookies and CSRF tokens; one per app."""

    def __init__(self, kek: bytes, *, secure: bool) -> None:
        # HKDF with its own info string: the console's MAC key is independent of every other use
        # of the key-encryption key (RFC 5869 section 3.2).
        self._key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"discretion console session v1"
        ).derive(kek)
        self.secure = secure
        # The __Host- prefix pins the cookie to this origin, path / and Secure (RFC 6265bis 4.1.3.2);
        # browsers refuse it without Secure, so plain-http development uses an unprefixed name.
        self.cookie_name = "__Host-discretion-session" if secure else "discretion-session"
        self.pre_cookie_name = "__Host-discretion-pre" if secure else "discretion-pre"

    def _mac(self, purpose: str, data: str) -> str:
        return b64url_encode(hmac.new(self._key, f"{purpose}|{data}".encode(), hashlib.sha256).digest())

    def issue(self, key_id: str, now: float) -> tuple[Session, str]:
        """A brand-new session (fresh random id) for an API key, and its cookie value."""
        session = Session(sid=secrets.token_urlsafe(16), key_id=key_id, issued_at=now, seen_at=now)
        return session, self.encode(session)

    def encode(self, session: Session) -> str:
        """The cookie value of a session."""
        payload = {
            "sid": session.sid,
            "kid": session.key_id,
            "iat": session.issued_at,
            "seen": session.seen_at,
        }
        body = b64url_encode(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
        return f"{body}.{self._mac('session', body)}"

    def decode(self, value: str | None, now: float) -> Session | None:
        """The session in a cookie if its MAC is right and it has not expired; None otherwise."""
        if not value or len(value) > _MAX_COOKIE or value.count(".") != 1:
            return None
        body, mac = value.split(".")
        if not hmac.compare_digest(mac, self._mac("session", body)):
            return None
        try:
            payload = json.loads(b64url_decode(body))
            session = Session(
                sid=str(payload["sid"]),
                key_id=str(payload["kid"]),
                issued_at=float(payload["iat"]),
                seen_at=float(payload["seen"]),
            )
        except (ValueError, KeyError, TypeError):
            return None
        if now - session.issued_at > ABSOLUTE_SECONDS or now - session.seen_at > IDLE_SECONDS:
            return None
        if session.seen_at > now + 60:  # minted in the future: not by this clock
            return None
        return session

    def csrf_token(self, session: Session) -> str:
        """The synchronizer token for forms in this session (OWASP CSRF cheat sheet, HMAC variant)."""
        return self._mac("csrf", session.sid)

    def check_csrf(self, session: Session, presented: str | None) -> bool:
        """True when a form carried this session's token."""
        return bool(presented) and hmac.compare_digest(str(presented), self.csrf_token(session))

    # The sign-in form has no session yet: its token is bound to a random pre-session cookie, so a
    # cross-site page cannot sign a victim in to the attacker's account (login CSRF).

    def new_pre_session(self) -> str:
        """A random value for the pre-session cookie."""
        return secrets.token_urlsafe(16)

    def pre_csrf_token(self, pre: str) -> str:
        """The sign-in form's token for a pre-session value."""
        return self._mac("pre-csrf", pre)

    def check_pre_csrf(self, pre: str | None, presented: str | None) -> bool:
        """True when the sign-in form carried the token of this browser's pre-session cookie."""
        if not pre or not presented or len(pre) > 64:
            return False
        return hmac.compare_digest(str(presented), self.pre_csrf_token(pre))

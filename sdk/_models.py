"""Values the SDK hands back: issued tokens, revocation pages and verified tokens."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AccessToken", "Revocation", "RevocationPage", "VerifiedToken"]


@dataclass(frozen=True, slots=True)
class AccessToken:
    """An access token issued by the broker, as the token endpoint answered it."""

    # repr=False: a token in a log line is a credential in a log line.
    access_token: str = field(repr=False)
    token_type: str
    expires_in: int
    scope: tuple[str, ...]
    #: Absolute expiry (epoch seconds), computed from `expires_in` when the answer arrived.
    expires_at: float

    @property
    def authorization(self) -> str:
        """The `Authorization` header value that presents this token (RFC 6750 section 2.1)."""
        return f"{self.token_type} {self.access_token}"


@dataclass(frozen=True, slots=True)
class Revocation:
    """One entry of the revocation feed: a revoked token that has not expired yet."""

    jti: str
    exp: int
    revoked_at: int


@dataclass(frozen=True, slots=True)
class RevocationPage:
    """One page of the revocation feed; pass `cursor` as `since` on the next call."""

    items: tuple[Revocation, ...]
    cursor: str


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """The checked content of an access token (RFC 9068 section 2.2) that a holder may rely on."""

    subject: str
    client_id: str
    audience: tuple[str, ...]
    scopes: tuple[str, ...]
    jti: str
    grant_id: str | None
    reveal: tuple[str, ...]
    expires_at: float
    purpose: str | None
    act: Mapping[str, Any] | None
    cnf: Mapping[str, Any] | None
    # repr=False: the full claim set is long and repeats the fields above.
    claims: Mapping[str, Any] = field(repr=False, compare=False)

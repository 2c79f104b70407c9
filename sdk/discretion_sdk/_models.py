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
    #: "Bearer", or "DPoP" for a token bound to a key (RFC 9449 section 5); spelled this way
    #: whatever case the broker used (token types are case-insensitive, RFC 6749 section 7.1).
    token_type: str
    expires_in: int
    scope: tuple[str, ...]
    #: Absolute expiry (epoch seconds), computed from `expires_in` when the answer arrived.
    expires_at: float

    @property
    def authorization(self) -> str:
        """The `Authorization` header value that presents this token (RFC 6750 section 2.1).

        A DPoP token also needs a `DPoP` proof header on every request: use the client's
        `authorization_headers(token, method, url)`, which gives both.
        """
        return f"{self.token_type} {self.access_token}"

    @property
    def is_dpop(self) -> bool:
        """Whether the token is bound to a key and needs a DPoP proof with each use."""
        return self.token_type == "DPoP"


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
class Disclosure:
    """What the broker let the recipient see: redacted data, a report (counts by entity type and
    path, never values), the grant-log receipt and the SHA-256 of the output."""

    data: Any
    report: dict[str, Any]
    receipt_id: str
    output_sha256: str


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """The checked content of an access token (RFC 9068 section 2.2) that a holder may rely on.

    `subject` is the user whose data was asked for, `client_id` the agent presenting the token,
    `scopes` what the user granted, `reveal` the entity types the broker's redaction lets through
    for this token, `act` the delegation chain (see `actors`). `access_token` is the token as it
    was presented, so that a holder can pass this object straight to `BrokerClient.disclose`.
    """

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
    #: The token as presented (a credential: kept out of the repr).
    access_token: str = field(default="", repr=False, compare=False)

    @property
    def actors(self) -> tuple[str, ...]:
        """The delegation chain from `act`, current actor first (RFC 8693 section 4.1); () if none.

        For a token that agent A exchanged for B, and B for C: `("C", "B", "A")`.
        """
        chain: list[str] = []
        level = self.act
        while level is not None:
            chain.append(level["sub"])
            level = level.get("act")
        return tuple(chain)

    @property
    def dpop_jkt(self) -> str | None:
        """The thumbprint of the key the token is bound to (`cnf.jkt`, RFC 9449), or None."""
        jkt = self.cnf.get("jkt") if self.cnf is not None else None
        return jkt if isinstance(jkt, str) else None

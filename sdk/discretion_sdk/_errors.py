"""Exceptions: wire errors from the broker and token rejections at a holder."""

from __future__ import annotations

import json
from typing import Any, ClassVar

import httpx

__all__ = [
    "AccessDenied",
    "BrokerError",
    "DPoPProofRefused",
    "DiscretionError",
    "InsufficientScope",
    "InvalidClient",
    "InvalidDPoPProof",
    "InvalidGrant",
    "InvalidRequest",
    "InvalidScope",
    "InvalidTarget",
    "InvalidToken",
    "TemporarilyUnavailable",
    "TokenError",
    "UnauthorizedClient",
    "UnknownBrokerError",
    "UnsupportedGrantType",
    "UseDPoPNonce",
    "VerifierUnavailable",
]


# Exception names mirror the wire codes (`invalid_request` -> InvalidRequest), as authlib's do,
# rather than taking an "Error" suffix (ruff N818): the code is what callers look up.


class DiscretionError(Exception):
    """Root of every exception the SDK raises on purpose."""


class BrokerError(DiscretionError):
    """An error answer from the broker (RFC 6749 section 5.2 or an RFC 9457 problem document)."""

    #: The wire code this class stands for; subclasses set it.
    code: ClassVar[str] = ""

    def __init__(self, error: str, description: str | None = None, *, status_code: int | None = None) -> None:
        self.error = error
        self.description = description
        self.status_code = status_code
        # The message is built from the broker's code and description only: the request's token
        # or client assertion is never part of it, so logging an exception leaks no credential.
        message = error if not description else f"{error}: {description}"
        super().__init__(message if status_code is None else f"{message} (HTTP {status_code})")

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(error={self.error!r}, description={self.description!r}, "
            f"status_code={self.status_code!r})"
        )


class InvalidRequest(BrokerError):
    """The request was malformed (missing, repeated or bad parameter)."""

    code = "invalid_request"


class InvalidClient(BrokerError):
    """Client authentication failed; the broker gives one answer for every cause."""

    code = "invalid_client"


class InvalidGrant(BrokerError):
    """The grant (or subject token) is invalid, expired or revoked."""

    code = "invalid_grant"


class InvalidScope(BrokerError):
    """The requested scope is malformed or empty."""

    code = "invalid_scope"


class InvalidTarget(BrokerError):
    """The `resource` is not a registered resource URI (RFC 8707 section 2)."""

    code = "invalid_target"


class UnsupportedGrantType(BrokerError):
    """The broker does not support the grant type."""

    code = "unsupported_grant_type"


class AccessDenied(BrokerError):
    """The user's policy refuses the request; the broker never says which rule."""

    code = "access_denied"


class UnauthorizedClient(BrokerError):
    """The caller may not do this (for example revoke a token it is not party to)."""

    code = "unauthorized_client"


class TemporarilyUnavailable(BrokerError):
    """The broker cannot serve the request now; nothing was issued, retrying later may work."""

    code = "temporarily_unavailable"


class DPoPProofRefused(BrokerError):
    """The broker refused the DPoP proof sent with a token request (RFC 9449 section 5).

    The SDK makes its proofs itself, so this usually means a clock too far off the broker's (the
    proof's `iat`) or a `dpop_key` of an algorithm the broker does not accept. A `use_dpop_nonce`
    answer (section 8) maps here too; `error` keeps the wire code.
    """

    code = "invalid_dpop_proof"


class UnknownBrokerError(BrokerError):
    """An error code this SDK does not know, or an answer it could not understand."""


_BY_CODE: dict[str, type[BrokerError]] = {
    cls.code: cls
    for cls in (
        InvalidRequest,
        InvalidClient,
        InvalidGrant,
        InvalidScope,
        InvalidTarget,
        UnsupportedGrantType,
        AccessDenied,
        UnauthorizedClient,
        TemporarilyUnavailable,
        DPoPProofRefused,
    )
}
_BY_CODE["use_dpop_nonce"] = DPoPProofRefused
# /v1 routes answer RFC 9457 problem documents whose `error` codes differ from RFC 6749's. An agent
# only reaches /v1 with a client assertion (the revocation feed), so these map onto the family that
# means the same thing to it; `error` keeps the wire code.
_BY_CODE.update(
    {
        "unauthorized": InvalidClient,
        "forbidden": AccessDenied,
        "unavailable": TemporarilyUnavailable,
        "payload_too_large": InvalidRequest,
    }
)


def error_from_response(response: httpx.Response) -> BrokerError:
    """Build the exception for an error answer from the broker."""
    status = response.status_code
    try:
        body: Any = json.loads(response.content)
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        code: str = body["error"]
        raw_description = body.get("error_description", body.get("detail"))
        description = raw_description if isinstance(raw_description, str) else None
        return _BY_CODE.get(code, UnknownBrokerError)(code, description, status_code=status)
    # No usable body (a proxy's HTML page, an empty 502...): fall back on the status alone.
    if status == 503:
        return TemporarilyUnavailable(TemporarilyUnavailable.code, "no error body", status_code=status)
    return UnknownBrokerError("unexpected_response", "no error body", status_code=status)


class TokenError(DiscretionError):
    """Root of the reasons a holder refuses an access token."""

    #: A short machine code ("expired", "revoked", "insufficient_scope", ...); never the token.
    reason: str = "invalid"


class InvalidToken(TokenError):
    """The token is not acceptable (RFC 6750 section 3.1 `invalid_token`); `reason` says why."""

    def __init__(self, reason: str, detail: str | None = None) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(reason if detail is None else f"{reason}: {detail}")


class InsufficientScope(TokenError):
    """The token is valid but does not cover the required scopes (RFC 6750 `insufficient_scope`)."""

    def __init__(self, required: tuple[str, ...], granted: tuple[str, ...]) -> None:
        self.reason = "insufficient_scope"
        self.required = required
        self.granted = granted
        super().__init__(f"insufficient_scope: requires {' '.join(required)}")


class VerifierUnavailable(TokenError):
    """The verifier cannot decide now (JWKS or revocation feed unreachable); it fails closed."""

    def __init__(self, reason: str, detail: str | None = None) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(reason if detail is None else f"{reason}: {detail}")


class InvalidDPoPProof(TokenError):
    """The DPoP proof that came with a sender-constrained token is not acceptable (RFC 9449).

    Distinct from InvalidToken: the token may be fine, the proof of its key is not. `reason` is one
    of "missing", "multiple_proofs", "malformed", "missing_claim", "wrong_type", "bad_algorithm",
    "bad_key", "private_key", "bad_signature", "wrong_method", "wrong_url", "use_dpop_nonce",
    "iat_out_of_window", "bad_ath", "jkt_mismatch" or "replayed".
    """

    def __init__(self, reason: str, detail: str | None = None) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(reason if detail is None else f"{reason}: {detail}")


class UseDPoPNonce(InvalidDPoPProof):
    """The proof lacks the server nonce, or carries a stale one (RFC 9449 section 9).

    `nonce` is the value the client must put in its next proof; a holder sends it back in the
    `DPoP-Nonce` response header.
    """

    def __init__(self, nonce: str, detail: str | None = None) -> None:
        super().__init__("use_dpop_nonce", detail)
        self.nonce = nonce

"""One exception root for everything the broker refuses, with one subclass per wire error code.

OAuth endpoints answer RFC 6749 section 5.2 bodies; `/v1` answers RFC 9457 problem documents. The
translation to a response happens in exactly one place (`broker.api.errors`).
"""

from __future__ import annotations


class BrokerError(Exception):
    """A refusal that the caller may see: a wire code, a safe description and a status."""

    error = "server_error"
    status_code = 500
    default_description = "the request could not be processed"

    def __init__(self, description: str | None = None, *, headers: dict[str, str] | None = None) -> None:
        self.description = description or self.default_description
        self.headers = headers or {}
        super().__init__(self.description)


# RFC 6749 section 5.2 and its extensions.
class InvalidRequest(BrokerError):
    """The request is malformed."""

    error = "invalid_request"
    status_code = 400
    default_description = "the request is malformed"


class InvalidClient(BrokerError):
    """Client authentication failed; one answer for every cause (RFC 6749 section 5.2)."""

    error = "invalid_client"
    status_code = 401
    default_description = "client authentication failed"


class InvalidGrant(BrokerError):
    """The grant or subject token is invalid."""

    error = "invalid_grant"
    status_code = 400


class UnauthorizedClient(BrokerError):
    """The client may not do this with this token."""

    error = "unauthorized_client"
    status_code = 400
    default_description = "the client is not a party to this token"


class UnsupportedGrantType(BrokerError):
    """The grant type is not supported."""

    error = "unsupported_grant_type"
    status_code = 400
    default_description = "unsupported grant_type"


class InvalidScope(BrokerError):
    """The scope is malformed or empty."""

    error = "invalid_scope"
    status_code = 400
    default_description = "the scope is invalid"


class InvalidTarget(BrokerError):
    """The resource is not a registered resource URI (RFC 8707 section 2)."""

    error = "invalid_target"
    status_code = 400
    default_description = "the resource is not a registered resource"


class AccessDenied(BrokerError):
    """The user's policy refuses; never says which rule (the grant log has the reasons)."""

    error = "access_denied"
    status_code = 403
    default_description = "the user's policy does not allow this request"


class SlowDown(BrokerError):
    """The agent is throttled (broker/resilience): retry after `Retry-After` seconds. The code is
    RFC 8628 section 3.5's, the one token-endpoint code that means "slow down"."""

    error = "slow_down"
    status_code = 429
    default_description = "too many requests; retry later"


class TemporarilyUnavailable(BrokerError):
    """The store is unreachable; nothing was issued (fail closed)."""

    error = "temporarily_unavailable"
    status_code = 503
    default_description = "the service is temporarily unavailable"


# /v1 management API.
class Unauthorized(BrokerError):
    """No credentials, or credentials that are not valid."""

    error = "unauthorized"
    status_code = 401
    default_description = "a valid API key is required"


class Forbidden(BrokerError):
    """Valid credentials of a role that may not do this."""

    error = "forbidden"
    status_code = 403
    default_description = "this key may not use this route"


class NotFound(BrokerError):
    """No such object, or not yours."""

    error = "not_found"
    status_code = 404
    default_description = "not found"


class Conflict(BrokerError):
    """The object exists already."""

    error = "conflict"
    status_code = 409
    default_description = "the object already exists"


class Unprocessable(BrokerError):
    """Well-formed JSON with invalid values."""

    error = "invalid_request"
    status_code = 422
    default_description = "the request body is invalid"


class PayloadTooLarge(BrokerError):
    """The body exceeds the configured limit."""

    error = "payload_too_large"
    status_code = 413
    default_description = "the request body is too large"

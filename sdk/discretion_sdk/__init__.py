"""Discretion agent SDK: get tokens from the broker, and verify them at a holder.

Agents use BrokerClient (or AsyncBrokerClient) to obtain access tokens with `private_key_jwt`,
bound to their key with DPoP (RFC 9449) if they like, and to delegate them to other agents by token
exchange (RFC 8693); holders use TokenVerifier (or AsyncTokenVerifier) to check them offline, DPoP
proofs included, and `require_scope` to guard their routes. The SDK never imports the broker,
and needs only httpx, pyjwt, cryptography and pynacl (plus starlette for `require_scope`, the
`guard` extra, imported on first use). Key helpers: `generate_key`, `load_private_key`,
`save_private_key`, `public_jwks`. The SDK logs on the `discretion_sdk` logger: a holder's
refusals (with their reason) at WARNING, failed JWKS and feed downloads at WARNING.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# The scope rule and thumbprints are the wire's, shared with the broker; re-exported as SDK API.
from discretion_wire import Scope, jwk_thumbprint, scope_covers, scopes_cover

from ._assertion import ClientAssertionSigner, PrivateKey, infer_algorithm
from ._async_client import AsyncBrokerClient
from ._async_verifier import AsyncRevocationSource, AsyncTokenVerifier
from ._auth import AsyncBrokerAuth, BrokerAuth
from ._client import BrokerClient
from ._dpop import DPoPNonces, DPoPNonceSource
from ._errors import (
    AccessDenied,
    BrokerError,
    DiscretionError,
    DPoPProofRefused,
    InsufficientScope,
    InvalidClient,
    InvalidDPoPProof,
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    InvalidTarget,
    InvalidToken,
    TemporarilyUnavailable,
    TokenError,
    UnauthorizedClient,
    UnknownBrokerError,
    UnsupportedGrantType,
    UseDPoPNonce,
    VerifierUnavailable,
)
from ._keys import generate_key, load_private_key, private_key_pem, public_jwks, save_private_key
from ._models import AccessToken, Disclosure, Revocation, RevocationPage, VerifiedToken
from ._verifier import RevocationSource, TokenVerifier
from ._wire import Endpoints

if TYPE_CHECKING:
    from ._guard import protected_resource_metadata as protected_resource_metadata
    from ._guard import protected_resource_metadata_route as protected_resource_metadata_route
    from ._guard import require_scope as require_scope
    from ._guard import resource_metadata_url as resource_metadata_url

__all__ = [
    "AccessDenied",
    "AccessToken",
    "AsyncBrokerAuth",
    "AsyncBrokerClient",
    "AsyncRevocationSource",
    "AsyncTokenVerifier",
    "BrokerAuth",
    "BrokerClient",
    "BrokerError",
    "ClientAssertionSigner",
    "DPoPNonceSource",
    "DPoPNonces",
    "DPoPProofRefused",
    "Disclosure",
    "DiscretionError",
    "Endpoints",
    "InsufficientScope",
    "InvalidClient",
    "InvalidDPoPProof",
    "InvalidGrant",
    "InvalidRequest",
    "InvalidScope",
    "InvalidTarget",
    "InvalidToken",
    "PrivateKey",
    "Revocation",
    "RevocationPage",
    "RevocationSource",
    "Scope",
    "TemporarilyUnavailable",
    "TokenError",
    "TokenVerifier",
    "UnauthorizedClient",
    "UnknownBrokerError",
    "UnsupportedGrantType",
    "UseDPoPNonce",
    "VerifiedToken",
    "VerifierUnavailable",
    "generate_key",
    "infer_algorithm",
    "jwk_thumbprint",
    "load_private_key",
    "private_key_pem",
    "protected_resource_metadata",
    "protected_resource_metadata_route",
    "public_jwks",
    "require_scope",
    "resource_metadata_url",
    "save_private_key",
    "scope_covers",
    "scopes_cover",
]


_GUARD_NAMES = frozenset(
    {
        "protected_resource_metadata",
        "protected_resource_metadata_route",
        "require_scope",
        "resource_metadata_url",
    }
)


def __getattr__(name: str) -> Any:
    # PEP 562: the guard pulls in starlette, which an agent that only asks for tokens may lack.
    if name in _GUARD_NAMES:
        try:
            from . import _guard
        except ModuleNotFoundError as exc:
            if exc.name != "starlette":
                raise
            raise ImportError(
                f"{name} needs starlette: install the guard extra, pip install 'discretion-sdk[guard]'"
            ) from exc
        return getattr(_guard, name)
    raise AttributeError(f"module 'discretion_sdk' has no attribute {name!r}")

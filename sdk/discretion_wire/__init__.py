"""Wire-level helpers shared by the Discretion SDK and the broker; standard library only.

One home for what both sides of the wire must compute the same way: unpadded base64url
(RFC 7515 section 2), JWK thumbprints (RFC 7638), the JWS algorithms and the keys they need,
DPoP `htu` and `ath` (RFC 9449), and the scope grammar with its covering rule (RFC 6749 section 3.3).
"""

from __future__ import annotations

from .base64url import b64url_decode, b64url_encode
from .dpop import access_token_hash, normalize_htu, request_htu, same_htu
from .jwk import (
    ALGORITHMS,
    KEY_TYPES,
    PRIVATE_MEMBERS,
    canonical_algorithm,
    has_private_members,
    jwk_thumbprint,
    key_fits,
    same_algorithm,
)
from .scopes import (
    MAX_SCOPE_LENGTH,
    MAX_SCOPES,
    Scope,
    ScopeError,
    all_covered,
    parse_scope_string,
    parse_scopes,
    scope_covers,
    scopes_cover,
)

__all__ = [
    "ALGORITHMS",
    "KEY_TYPES",
    "MAX_SCOPES",
    "MAX_SCOPE_LENGTH",
    "PRIVATE_MEMBERS",
    "Scope",
    "ScopeError",
    "access_token_hash",
    "all_covered",
    "b64url_decode",
    "b64url_encode",
    "canonical_algorithm",
    "has_private_members",
    "jwk_thumbprint",
    "key_fits",
    "normalize_htu",
    "parse_scope_string",
    "parse_scopes",
    "request_htu",
    "same_algorithm",
    "same_htu",
    "scope_covers",
    "scopes_cover",
]

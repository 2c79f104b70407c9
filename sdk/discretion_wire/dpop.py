"""DPoP values both sides compute (RFC 9449): the `htu` of a request and the `ath` of a token.

A client names the request URL in `htu` (section 4.2); the server compares it with the URL it was
called at after syntax- and scheme-based normalization (section 4.3 step 9, RFC 3986 section 6.2).
"""

from __future__ import annotations

import functools
import hashlib
from urllib.parse import urlsplit, urlunsplit

from ._uri import DEFAULT_PORTS, PERCENT, normalize_percent, remove_dot_segments
from .base64url import b64url_encode

__all__ = ["access_token_hash", "normalize_htu", "request_htu", "same_htu"]


def access_token_hash(access_token: str) -> str:
    """The `ath` claim: base64url(SHA-256(ASCII access token)) (section 4.2); ValueError if not ASCII."""
    return b64url_encode(hashlib.sha256(access_token.encode("ascii")).digest())


def request_htu(url: str) -> str:
    """The `htu` a client puts in a proof: the URL without userinfo, query and fragment (section 4.2)."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"the DPoP htu must be an absolute http(s) URL, not {url!r}")
    # Userinfo is never part of an http(s) request target (RFC 9110 section 4.2.4); a password
    # must not travel inside a signed proof either.
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def normalize_htu(url: str) -> str:
    """Normalize an http(s) URL for comparing `htu` (section 4.3 step 9); ValueError for anything else.

    Syntax-based and scheme-based normalization (RFC 3986 sections 6.2.2 and 6.2.3): scheme and
    host lowercased, the default port dropped, an empty path made "/", percent-encoding of
    unreserved characters undone and hex digits uppercased, dot segments removed; the query and
    the fragment are not part of `htu`. A URL with userinfo is refused (RFC 9110 section 4.2.4:
    it serves to disguise the authority).
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ValueError("not an http(s) URL")
    if "@" in parts.netloc:
        raise ValueError("an http(s) URL with userinfo")
    host = parts.hostname
    if not host:
        raise ValueError("no host")
    port = parts.port  # ValueError for a port out of range or not a number
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    path = remove_dot_segments(PERCENT.sub(normalize_percent, parts.path)) or "/"
    return f"{scheme}://{host}{path}"


def _without_query(url: str) -> str:
    # A fragment ends the URL, a query ends what precedes it; neither can occur in the authority.
    return url.partition("#")[0].partition("?")[0]


# Proofs of one agent name the same few URLs: normalizing each once keeps urlsplit off the hot
# path. Bounded, so made-up htu values cannot grow it without limit.
@functools.lru_cache(maxsize=1024)
def _normalized_or_none(url: str) -> str | None:
    try:
        return normalize_htu(url)
    except ValueError:
        return None


def same_htu(htu: str, url: str) -> bool:
    """Whether a proof's `htu` names the request URL `url`; a malformed URL names nothing."""
    normal = _normalized_or_none(_without_query(htu))
    return normal is not None and normal == _normalized_or_none(_without_query(url))

"""Resource indicators (RFC 8707) in one canonical form, so that two spellings of one resource are one
resource: the broker stores, matches and puts in `aud` only this form, and a holder compares `aud`
with its own resource URIs in the same form.

Normalization is RFC 3986 section 6.2.2 and 6.2.3 (syntax- and scheme-based): scheme and host in lower
case, a trailing dot on the host dropped, the default port dropped, percent-encoding of unreserved
characters undone (in the host, the path and the query) and the other escapes' hex digits upper-cased,
dot segments removed, an empty path made "/", a trailing "/" after a non-empty path dropped, and an
empty query ("?") dropped. A URI with userinfo or a fragment is refused, as are schemes other than
http(s) and hosts that are not valid names.
"""

from __future__ import annotations

import functools
import re
import string
from urllib.parse import urlsplit

from ._uri import DEFAULT_PORTS, PERCENT, normalize_percent, remove_dot_segments

__all__ = ["MAX_RESOURCE_URI_LENGTH", "normalize_resource"]

MAX_RESOURCE_URI_LENGTH = 2048

_HOST = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*")
_ALLOWED = frozenset(string.ascii_letters + string.digits + "-._~:/?#[]@!$&'()*+,;=%")


@functools.lru_cache(maxsize=4096)
def normalize_resource(uri: str) -> str:
    """The canonical form of an http(s) resource URI; ValueError (naming the rule) otherwise."""
    if len(uri) > MAX_RESOURCE_URI_LENGTH:
        raise ValueError(f"resource URIs are at most {MAX_RESOURCE_URI_LENGTH} characters")
    if not uri.isascii() or not set(uri) <= _ALLOWED:
        raise ValueError("a resource URI must be ASCII without spaces (percent-encode other characters)")
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.netloc:
        raise ValueError("resource URIs must be absolute http(s) URIs")
    if "#" in uri:
        raise ValueError("a resource URI must not have a fragment")
    if "@" in parts.netloc:
        raise ValueError("a resource URI must not have userinfo")
    raw_host, _, raw_port = (
        parts.netloc.rpartition(":") if not parts.netloc.endswith("]") else (parts.netloc, "", "")
    )
    if not raw_host or (raw_port and not raw_port.isdigit()):
        raw_host, raw_port = parts.netloc, ""
    if raw_host.startswith("["):
        raise ValueError("resource URIs name their host by a DNS name, not an IP literal")
    host = PERCENT.sub(normalize_percent, raw_host).lower().rstrip(".")
    if "%" in host or not _HOST.fullmatch(host) or len(host) > 253:
        raise ValueError("a resource URI's host must be a DNS name")
    port = int(raw_port) if raw_port else None
    if port is not None and not 0 < port < 65536:
        raise ValueError("a resource URI's port must be 1-65535")
    authority = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = remove_dot_segments(PERCENT.sub(normalize_percent, parts.path)) or "/"
    if len(path) > 1 and path.endswith("/"):
        path = path.rstrip("/") or "/"
    query = PERCENT.sub(normalize_percent, parts.query)
    return f"{scheme}://{authority}{path}" + (f"?{query}" if query else "")

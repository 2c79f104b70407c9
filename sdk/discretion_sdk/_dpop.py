"""DPoP (RFC 9449): proofs made by agents, and the checks of section 4.3 made by holders.

An agent proves, on every request, that it holds the private key a token is bound to (`cnf.jkt`):
the `DPoP` header carries a short-lived JWT signed with that key, naming the request's method and
URL and, at a holder, the hash of the access token. ProofSigner makes those proofs; ProofChecker
verifies them with the same hand-rolled JWS code as access tokens (`_jose.py`), a header cache (an
agent's proofs all share one header, so its key is imported once), and a bounded jti replay cache.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import json
import math
import re
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from discretion_wire import (
    access_token_hash,
    b64url_decode,
    b64url_encode,
    has_private_members,
    jwk_thumbprint,
    request_htu,
    same_htu,
)

from ._assertion import PrivateKey, infer_algorithm, sign_jws
from ._errors import InvalidDPoPProof, UseDPoPNonce, VerifierUnavailable
from ._jose import SUPPORTED_ALGORITHMS, Verify, public_jwk, split_compact_jws, verify_function

__all__ = [
    "DEFAULT_DPOP_ALGORITHMS",
    "DPOP_TYP",
    "DPoPNonceSource",
    "DPoPNonces",
    "ProofChecker",
    "ProofSigner",
    "peek_claims",
]

DPOP_TYP = "dpop+jwt"
#: Media types compare case-insensitively and may carry the "application/" prefix (RFC 7515 4.1.9).
PROOF_TYPES = frozenset({"dpop+jwt", "application/dpop+jwt"})
#: What holders accept by default: the algorithms of the keys agents register (RSA is allowed on
#: request, never `none` or HS*: a proof is checked with the public key in its own header).
DEFAULT_DPOP_ALGORITHMS = ("EdDSA", "Ed25519", "ES256")
DEFAULT_DPOP_MAX_AGE = 60.0
DEFAULT_REPLAY_CACHE_SIZE = 100_000
#: Section 4.2; `ath` too when the proof comes with an access token (section 7.1).
REQUIRED_CLAIMS = ("jti", "htm", "htu", "iat")
REQUIRED_CLAIMS_WITH_TOKEN = (*REQUIRED_CLAIMS, "ath")
MAX_PROOF_LENGTH = 8192
MAX_JTI_LENGTH = 256
_HEADER_CACHE_LIMIT = 256
#: RFC 9110 section 5.6.2 `token`: the syntax of a method name.
_METHOD = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z]+")


def peek_claims(token: str) -> dict[str, Any] | None:
    """The payload of a compact JWS read WITHOUT any check, or None; for the client's own use only.

    The agent uses it to see whether a token it was handed is bound to a key (`cnf.jkt`), never
    to decide anything a holder relies on.
    """
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(b64url_decode(parts[1]).decode("utf-8"))
    except ValueError:
        return None
    return claims if isinstance(claims, dict) else None


# -- the agent's side --------------------------------------------------------------------------


class ProofSigner:
    """Signs DPoP proofs (RFC 9449 section 4.2) with one key; `jkt` is that key's thumbprint."""

    __slots__ = ("_alg", "_clock", "_header", "_key", "jkt")

    def __init__(
        self, key: PrivateKey, *, alg: str | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self._alg = infer_algorithm(key, alg)
        self._key = key
        self._clock = clock
        jwk = public_jwk(key)
        self.jkt = jwk_thumbprint(jwk)
        # The public key only: the holder checks the proof with it (and refuses private members).
        self._header: dict[str, Any] = {"typ": DPOP_TYP, "jwk": jwk}

    @property
    def alg(self) -> str:
        """The JWS algorithm of the proofs."""
        return self._alg

    def sign(
        self, method: str, url: str, *, access_token: str | None = None, nonce: str | None = None
    ) -> str:
        """A fresh proof for one request (a new `jti` every time)."""
        if not isinstance(method, str) or not _METHOD.fullmatch(method):
            raise ValueError(f"not an HTTP method: {method!r}")
        claims: dict[str, Any] = {
            # 128 random bits: holders refuse a jti seen within the proof's validity window.
            "jti": secrets.token_urlsafe(16),
            # Methods are case-sensitive and every standard one is upper case; HTTP clients send
            # them upper-cased, so "get" here means the GET that goes on the wire.
            "htm": method.upper(),
            "htu": request_htu(url),
            "iat": int(self._clock()),
        }
        if access_token is not None:
            claims["ath"] = access_token_hash(access_token)
        if nonce is not None:
            if not isinstance(nonce, str) or not nonce:
                raise ValueError("nonce must be a non-empty string")
            claims["nonce"] = nonce
        return sign_jws(claims, self._key, self._alg, self._header)

    def __repr__(self) -> str:
        return f"ProofSigner(alg={self._alg!r}, jkt={self.jkt!r})"


# -- the holder's side -------------------------------------------------------------------------


class DPoPNonceSource(Protocol):
    """Server nonces for DPoP proofs (RFC 9449 section 9); DPoPNonces is one."""

    def current(self) -> str:
        """The nonce to hand to clients now (in the `DPoP-Nonce` response header)."""
        ...

    def is_valid(self, nonce: str) -> bool:
        """Whether a proof's `nonce` claim is acceptable now."""
        ...


class DPoPNonces:
    """Server nonces that change every `interval` seconds; the current and previous are accepted.

    Nothing is stored: a nonce is an HMAC of the time window, so several holder processes given the
    same `secret` accept each other's nonces (a random secret is drawn when none is given).
    """

    __slots__ = ("_clock", "_interval", "_secret")

    def __init__(
        self,
        *,
        secret: bytes | None = None,
        interval: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if secret is not None and len(secret) < 16:
            raise ValueError("the nonce secret must be at least 16 bytes")
        if not interval > 0:
            raise ValueError("interval must be positive")
        self._secret = secret if secret is not None else secrets.token_bytes(32)
        self._interval = float(interval)
        self._clock = clock

    def _nonce(self, window: int) -> str:
        mac = hmac.new(self._secret, window.to_bytes(8, "big", signed=True), hashlib.sha256)
        return b64url_encode(mac.digest()[:24])

    def _window(self) -> int:
        return math.floor(self._clock() / self._interval)

    def current(self) -> str:
        """The nonce of the current time window."""
        return self._nonce(self._window())

    def is_valid(self, nonce: str) -> bool:
        """Whether `nonce` is the current window's or the previous one's."""
        window = self._window()
        return any(hmac.compare_digest(nonce, self._nonce(w)) for w in (window, window - 1))

    def __repr__(self) -> str:
        # Never the secret.
        return f"DPoPNonces(interval={self._interval!r})"


class ReplayCache:
    """The proof `jti`s seen while their proofs could still be accepted, at most `limit` of them.

    Full means fail closed (VerifierUnavailable): evicting live entries would let their proofs be
    replayed. Only proofs that passed every other check get in, so filling it takes valid
    tokens and their keys, not just traffic.
    """

    __slots__ = ("_heap", "_limit", "_lock", "_seen")

    def __init__(self, limit: int) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
            raise ValueError("the replay cache size must be a positive integer")
        self._limit = limit
        self._seen: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []
        # The sync verifier runs in a thread pool: check-and-add must be one step.
        self._lock = threading.Lock()

    def add(self, jti: str, until: float, now: float) -> bool:
        """Remember `jti` until `until`; False when it is already remembered (a replay)."""
        with self._lock:
            seen, heap = self._seen, self._heap
            # Strictly before now: at `until` itself the proof is still acceptable.
            while heap and heap[0][0] < now:
                expiry, old = heapq.heappop(heap)
                if seen.get(old) == expiry:
                    del seen[old]
            if jti in seen:
                return False
            if len(seen) >= self._limit:
                raise VerifierUnavailable("dpop_replay_cache_full")
            seen[jti] = until
            heapq.heappush(heap, (until, jti))
            return True

    def __len__(self) -> int:
        return len(self._seen)


@dataclass(frozen=True, slots=True)
class ProofHeader:
    """A checked proof header: its algorithm, its key's verify function and thumbprint."""

    alg: str
    verify: Verify
    jkt: str


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class ProofChecker:
    """The checks of RFC 9449 section 4.3 (and the replay check of section 11.1)."""

    def __init__(
        self,
        *,
        algorithms: Sequence[str],
        max_age: float,
        leeway: float,
        nonces: DPoPNonceSource | None,
        replay_cache_size: int,
    ) -> None:
        pinned = (algorithms,) if isinstance(algorithms, str) else tuple(algorithms)
        if not pinned or not set(pinned) <= SUPPORTED_ALGORITHMS:
            raise ValueError(f"dpop_algorithms must be among {sorted(SUPPORTED_ALGORITHMS)}")
        if not max_age > 0:
            raise ValueError("dpop_max_age must be positive")
        # The order given is kept for the `algs` of the WWW-Authenticate challenge.
        self.algorithm_list = tuple(dict.fromkeys(pinned))
        self.algorithms = frozenset(pinned)
        self.max_age = float(max_age)
        self.leeway = float(leeway)
        self.nonces = nonces
        self.replay = ReplayCache(replay_cache_size)
        self._headers: dict[str, ProofHeader] = {}

    def _header(self, segment: str) -> ProofHeader:
        cached = self._headers.get(segment)
        if cached is not None:
            return cached
        try:
            header = json.loads(b64url_decode(segment).decode("utf-8"))
        except ValueError:
            raise InvalidDPoPProof("malformed", "header is not base64url JSON") from None
        if not isinstance(header, dict):
            raise InvalidDPoPProof("malformed", "header is not a JSON object")
        typ = header.get("typ")
        # Step 4: explicit typing keeps an access token or a client assertion from passing as a proof.
        if not isinstance(typ, str) or typ.lower() not in PROOF_TYPES:
            raise InvalidDPoPProof("wrong_type", "typ is not dpop+jwt")
        alg = header.get("alg")
        # Step 5: an asymmetric algorithm this holder accepts; never `none`, never HS*.
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise InvalidDPoPProof("bad_algorithm", "algorithm not allowed")
        if "crit" in header:
            raise InvalidDPoPProof("malformed", "unsupported crit header")
        jwk = header.get("jwk")
        if not isinstance(jwk, dict):
            raise InvalidDPoPProof("bad_key", "no jwk header")
        # Step 7: a proof carrying a private key proves nothing (and the key is burnt).
        if has_private_members(jwk):
            raise InvalidDPoPProof("private_key", "the jwk header holds a private key")
        try:
            parsed = ProofHeader(alg, verify_function(jwk, alg), jwk_thumbprint(jwk))
        except ValueError as exc:
            raise InvalidDPoPProof("bad_key", str(exc)) from None
        if len(self._headers) >= _HEADER_CACHE_LIMIT:
            self._headers.clear()
        self._headers[segment] = parsed
        return parsed

    def check(
        self,
        proofs: str | Sequence[str],
        *,
        method: str,
        url: str,
        access_token: str | None,
        jkt: str | None,
        now: float,
    ) -> str:
        """Check one request's proof(s); return the proof key's thumbprint, or raise InvalidDPoPProof.

        `access_token` (when the proof comes with one) must be hashed in `ath`; `jkt` (the token's
        `cnf.jkt`) must be the proof key's thumbprint. A proof that passes is remembered by `jti`.
        """
        # Step 1: exactly one proof. A list holds every DPoP header field of the request; a comma
        # (never in a compact JWS) means several fields folded into one.
        items = [proofs] if isinstance(proofs, str) else list(proofs)
        if not items:
            raise InvalidDPoPProof("missing", "no DPoP proof")
        if len(items) != 1 or not isinstance(items[0], str) or "," in items[0]:
            raise InvalidDPoPProof("multiple_proofs", "exactly one DPoP header is allowed")
        proof = items[0]
        # Step 2: a well-formed compact JWS (steps 4, 5 and 7 are the header's, checked with it).
        try:
            jws = split_compact_jws(proof, MAX_PROOF_LENGTH)
        except ValueError as exc:
            raise InvalidDPoPProof("malformed", str(exc)) from None
        header = self._header(jws.header_segment)
        payload_segment, signing_input, signature = jws.payload_segment, jws.signing_input, jws.signature
        # Step 6: the signature, with the key of the proof's own header.
        try:
            header.verify(signature, signing_input)
        except (InvalidSignature, ValueError):
            raise InvalidDPoPProof("bad_signature") from None
        try:
            claims = json.loads(
                b64url_decode(payload_segment).decode("utf-8"), parse_constant=_refuse_constant
            )
        except ValueError:
            raise InvalidDPoPProof("malformed", "payload is not base64url JSON") from None
        if not isinstance(claims, dict):
            raise InvalidDPoPProof("malformed", "payload is not a JSON object")
        # Step 3: the required claims (and `ath` when the proof comes with an access token, 7.1).
        required = REQUIRED_CLAIMS if access_token is None else REQUIRED_CLAIMS_WITH_TOKEN
        missing = [name for name in required if name not in claims]
        if missing:
            raise InvalidDPoPProof("missing_claim", " ".join(missing))
        jti, htm, htu, iat = claims["jti"], claims["htm"], claims["htu"], claims["iat"]
        if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
            raise InvalidDPoPProof("malformed", "jti is not a string of 1 to 256 characters")
        if not isinstance(htm, str) or not isinstance(htu, str):
            raise InvalidDPoPProof("malformed", "htm or htu is not a string")
        if not (type(iat) is int or (type(iat) is float and math.isfinite(iat))):
            raise InvalidDPoPProof("malformed", "iat is not a NumericDate")
        # Step 8: the method of the request.
        if htm != method:
            raise InvalidDPoPProof("wrong_method", "htm does not match the request method")
        # Step 9: the URL of the request, normalized, query and fragment ignored.
        if not same_htu(htu, url):
            raise InvalidDPoPProof("wrong_url", "htu does not match the request URL")
        # Step 10: the server nonce, when this holder asks for one.
        nonces = self.nonces
        if nonces is not None:
            nonce = claims.get("nonce")
            if not isinstance(nonce, str) or not nonces.is_valid(nonce):
                raise UseDPoPNonce(nonces.current(), "missing or stale nonce")
        # Step 11: freshness. Accepted from max_age (plus leeway for clock skew) in the past to
        # leeway in the future.
        if iat > now + self.leeway or iat < now - self.max_age - self.leeway:
            raise InvalidDPoPProof("iat_out_of_window", "the proof is too old or from the future")
        # Step 12: the proof is for this very access token.
        if access_token is not None and claims["ath"] != access_token_hash(access_token):
            raise InvalidDPoPProof("bad_ath", "ath does not match the access token")
        # Step 13: the proof's key is the one the token is bound to.
        if jkt is not None and header.jkt != jkt:
            raise InvalidDPoPProof("jkt_mismatch", "the proof key is not the one the token is bound to")
        # Section 11.1: a proof is good once. Remembered until it would be too old anyway.
        if not self.replay.add(jti, iat + self.max_age + self.leeway, now):
            raise InvalidDPoPProof("replayed", "this proof's jti was already used")
        return header.jkt

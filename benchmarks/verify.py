"""Holder-side token verification: discretion_sdk.TokenVerifier.verify against raw Ed25519 verification.

Both are measured in this run, interleaved, on the same token bytes: the anchor is cryptography's
`Ed25519PublicKey.verify(signature, signing_input)` alone, the figure is a full SDK verification
(header and typ, pinned alg, kid lookup in the cached JWKS, signature, iss/aud/exp/nbf/iat,
required claims, a revocation set pre-polled from a feed of 1,000 revoked tokens, scope covering).

A second figure, reported beside it, is a DPoP-bound token (RFC 9449) with a fresh proof per
request, each made beforehand by discretion_sdk.BrokerClient.dpop_proof: the same checks plus every check of
RFC 9449 section 4.3 and the jti replay cache. Its anchor is two raw Ed25519 verifications (the
token's and the proof's signatures), the least any DPoP verification must do.

    .venv/bin/python benchmarks/verify.py [--seconds 3] [--rounds 6] [--check]

Target: the SDK verifies at least 60 % as many bearer tokens per second as the raw signature
check. The DPoP figure is reported, not checked.
"""

from __future__ import annotations

import argparse
import base64
import math
import secrets
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import discretion_sdk

ISSUER = "http://127.0.0.1:8000"
RESOURCE = "https://calendar.example/api"
TARGET = 0.60
FEED_SIZE = 1000


class _Feed:
    """An in-memory revocation feed standing in for the holder's BrokerClient."""

    def __init__(self, now: float) -> None:
        self.items = tuple(
            discretion_sdk.Revocation(secrets.token_urlsafe(16), int(now) + 600, int(now))
            for _ in range(FEED_SIZE)
        )

    def revocations(
        self, since: str | None = None, limit: int | None = None
    ) -> discretion_sdk.RevocationPage:
        start = int(since or 0)
        page = self.items[start : start + (limit or 500)]
        return discretion_sdk.RevocationPage(page, str(start + len(page)))


def _token(key: Ed25519PrivateKey, kid: str, **extra: object) -> str:
    """A token shaped like the broker's (docs/api.md, RFC 9068)."""
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": "user-7f3a9c",
        "aud": RESOURCE,
        "client_id": "scheduler-agent",
        "scope": "calendar:read contacts.email:read",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": secrets.token_urlsafe(16),
        "grant_id": "grt_" + secrets.token_urlsafe(12),
        "reveal": ["PERSON", "DATE_TIME"],
        "purpose": "meeting-scheduling",
        **extra,
    }
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"typ": "at+jwt", "kid": kid})


def _rate(fn: Callable[[], object], seconds: float) -> tuple[int, float]:
    """Call `fn` in batches for about `seconds`; return (calls, elapsed)."""
    calls, batch = 0, 200
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(batch):
            fn()
        calls += batch
        now = time.perf_counter()
        if now >= deadline:
            return calls, now - start


def _timed_list(fn: Callable[[str], object], items: list[str]) -> tuple[int, float]:
    """Call `fn` once per item (each proof is good once); return (calls, elapsed)."""
    start = time.perf_counter()
    for item in items:
        fn(item)
    return len(items), time.perf_counter() - start


def _split(token: str) -> tuple[bytes, bytes]:
    signing_input, _, signature_b64 = token.rpartition(".")
    return signing_input.encode(), base64.urlsafe_b64decode(signature_b64 + "=" * (-len(signature_b64) % 4))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per method (default 3)")
    parser.add_argument("--rounds", type=int, default=6, help="interleaved rounds (default 6)")
    parser.add_argument("--check", action="store_true", help="exit 1 when the ratio is below the target")
    args = parser.parse_args()

    key, kid = Ed25519PrivateKey.generate(), "broker-2025-01"
    raw_public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    jwk = {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": base64.urlsafe_b64encode(raw_public).rstrip(b"=").decode(),
        "kid": kid,
        "use": "sig",
        "alg": "EdDSA",
    }
    jwks = httpx.Client(transport=httpx.MockTransport(lambda _: httpx.Response(200, json={"keys": [jwk]})))
    verifier = discretion_sdk.TokenVerifier(
        issuer=ISSUER, audience=RESOURCE, http_client=jwks, revocation_source=_Feed(time.time())
    )
    token = _token(key, kid)

    # The anchor works on exactly the bytes the SDK verifies.
    signing_input, _, signature_b64 = token.rpartition(".")
    signing_bytes = signing_input.encode()
    signature = base64.urlsafe_b64decode(signature_b64 + "=" * (-len(signature_b64) % 4))
    public = key.public_key()

    # Warm-up: JWKS cached and the feed read before the clock starts, as in a running holder.
    verifier.refresh_jwks()
    verifier.poll_revocations()
    required = ("calendar:read",)
    verified = verifier.verify(token, required_scopes=required)
    assert verified.subject == "user-7f3a9c"

    # DPoP: the agent's key, a token bound to it, and proofs made by the SDK's own client.
    agent_key = Ed25519PrivateKey.generate()
    agent = discretion_sdk.BrokerClient(
        issuer=ISSUER, client_id="scheduler-agent", private_key=agent_key, kid="a1"
    )
    bound = _token(key, kid, cnf={"jkt": agent.dpop_jkt})
    url, proof_url = RESOURCE + "/events", RESOURCE + "/events?from=2025-01-01"

    def proofs(count: int) -> list[str]:
        return [agent.dpop_proof("GET", url, access_token=bound) for _ in range(count)]

    def dpop(proof: str) -> None:
        verifier.verify(
            bound, required_scopes=required, dpop_proof=proof, http_method="GET", http_url=proof_url
        )

    sample = proofs(1)[0]
    dpop(sample)
    bound_input, bound_signature = _split(bound)
    proof_input, proof_signature = _split(sample)
    agent_public = agent_key.public_key()

    def raw() -> None:
        public.verify(signature, signing_bytes)

    def raw_two() -> None:
        public.verify(bound_signature, bound_input)
        agent_public.verify(proof_signature, proof_input)

    def full() -> None:
        verifier.verify(token, required_scopes=required)

    share = args.seconds / args.rounds
    # Calibrate how many proofs one round uses: each is good once, so they are made in advance.
    calls, elapsed = _timed_list(dpop, proofs(300))
    per_round = max(100, math.ceil(calls / elapsed * share))

    totals = {"raw": [0, 0.0], "sdk": [0, 0.0], "raw2": [0, 0.0], "dpop": [0, 0.0]}
    # Interleaved so that CPU frequency changes and noisy neighbours hit all alike.
    for _ in range(args.rounds):
        for name, fn in (("raw", raw), ("sdk", full), ("raw2", raw_two)):
            calls, elapsed = _rate(fn, share)
            totals[name][0] += calls
            totals[name][1] += elapsed
        calls, elapsed = _timed_list(dpop, proofs(per_round))
        totals["dpop"][0] += calls
        totals["dpop"][1] += elapsed
    raw_rate = totals["raw"][0] / totals["raw"][1]
    sdk_rate = totals["sdk"][0] / totals["sdk"][1]
    raw2_rate = totals["raw2"][0] / totals["raw2"][1]
    dpop_rate = totals["dpop"][0] / totals["dpop"][1]
    ratio = sdk_rate / raw_rate

    print(f"token: {len(token)} bytes, EdDSA, JWKS cached, feed pre-polled ({FEED_SIZE} revoked jtis)")
    print(f"raw Ed25519 verify (cryptography), anchor : {raw_rate:10,.0f} verifications/s")
    print(f"discretion_sdk.TokenVerifier.verify                  : {sdk_rate:10,.0f} verifications/s")
    print(
        f"per token: raw {1e6 / raw_rate:.1f} us, sdk {1e6 / sdk_rate:.1f} us "
        f"(SDK overhead {1e6 / sdk_rate - 1e6 / raw_rate:.1f} us)"
    )
    verdict = "meets" if ratio >= TARGET else "BELOW"
    print(f"ratio: {ratio:.1%} of raw ({verdict} the {TARGET:.0%} target)")
    print()
    print("DPoP-bound token + fresh proof per request (RFC 9449 section 4.3, jti replay cache)")
    print(f"raw Ed25519 verify x2 (token + proof)     : {raw2_rate:10,.0f} verifications/s")
    print(f"discretion_sdk.TokenVerifier.verify with dpop_proof  : {dpop_rate:10,.0f} verifications/s")
    print(
        f"per request: raw x2 {1e6 / raw2_rate:.1f} us, sdk {1e6 / dpop_rate:.1f} us "
        f"(SDK overhead {1e6 / dpop_rate - 1e6 / raw2_rate:.1f} us)"
    )
    print(f"ratio: {dpop_rate / raw2_rate:.1%} of two raw verifications, {dpop_rate / raw_rate:.1%} of one")
    agent.close()
    verifier.close()
    return 1 if args.check and ratio < TARGET else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""What a token request writes, alone or set-wise with the other requests of a group commit.

Every token request ends in the same write: spend the client assertion (and the DPoP proof),
append the decision's log record and, when a token was issued, re-check that the decision's inputs
are unchanged and store the token. `TokenWrite` does that for one request; `run_together` does it
for a run of requests in a fixed number of statements (two on PostgreSQL, whatever the run's
length), which is what lets PostgreSQL, where each statement costs the event loop a round trip
and the driver's overhead, keep up. It gives the same rows,
in the same order, as the requests written one after another, and raises when any of them would
fail, so that the batcher (broker/storage/batch.py) writes each alone and each fails alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from sqlalchemy import Connection

from broker.grantlog import events
from broker.oauth.client_auth import VerifiedAssertion, consume, purge_sometimes
from broker.oauth.client_credentials import Currency, StaleDecision
from broker.oauth.dpop import InvalidDPoPProof, VerifiedProof
from broker.storage import principals, token_group
from broker.storage import tokens as token_store
from broker.storage.token_group import NotTogether

DPOP_PROOF_WINDOW = 60


def proof_expiry(proof: VerifiedProof, skew: int) -> float:
    """How long a DPoP proof's id must be remembered: until no clock could still accept it."""
    return proof.iat + DPOP_PROOF_WINDOW + 2 * skew


def spend(
    conn: Connection, verified: VerifiedAssertion, proof: VerifiedProof | None, now: float, skew: int
) -> None:
    """Spend a request's assertion and proof; raises InvalidClient or InvalidDPoPProof on a replay."""
    consume(conn, verified, now=now, skew=skew)
    if proof is not None and not token_store.consume_proof_jti(
        conn, proof.jkt, proof.jti, proof_expiry(proof, skew)
    ):
        raise InvalidDPoPProof("the DPoP proof was already used")


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenWrite:
    """One token request's write. `token` is None for a refusal, which is logged but not stored.
    `currency` lets a run of writes re-check their decisions in one statement, and `delegation` a
    token exchange's in one statement that nothing reads (on PostgreSQL it fails by itself); a flow
    that can say neither leaves both None and its own `still_current` runs instead. A refusal with a
    `currency` is re-checked too, on the user's policy version alone: it may have been decided on
    a remembered user row (broker/oauth/caches/users.py), and a grant committed since may allow
    it now."""

    verified: VerifiedAssertion
    proof: VerifiedProof | None
    now: float
    skew: int
    event: events.Event
    token: token_store.TokenRecord | None
    still_current: Callable[[Connection], bool]
    currency: Currency | None = None
    delegation: token_store.Delegation | None = None
    # `run_together` reads no result a pipeline holds back (a rowcount, an unfetched row) and
    # what would fail it fails a statement, so a batch of these may go in one pipeline with its
    # COMMIT (broker/storage/batch.py).
    together_in_pipeline: ClassVar[bool] = True

    def __call__(self, conn: Connection) -> events.Event:
        spend(conn, self.verified, self.proof, self.now, self.skew)
        events.append(conn, self.event, now=self.now)
        if self.token is not None:
            # After the append, which holds the log head's lock: a policy change that commits
            # first is seen here, one that commits later is ordered after this token.
            if not self.still_current(conn):
                raise StaleDecision
            token_store.insert_token(conn, self.token)
        elif self.currency is not None:
            ref, version = self.currency[:2]
            if principals.policy_version(conn, ref) != version:
                raise StaleDecision
        return self.event

    @staticmethod
    def run_together(conn: Connection, writes: list[TokenWrite]) -> list[events.Event]:
        """The writes in order, set-wise; raises NotTogether when any one would fail (in a
        pipeline on PostgreSQL the commit may fail instead).

        In two steps (broker/storage/token_group.py): spend and store what needs no sequence
        number, taking the log head's lock last; then log and re-check. Nothing decided is read
        before the lock is held."""
        now, skew = writes[-1].now, writes[-1].skew
        issuing = [w for w in writes if w.token is not None]
        proofs = [(w.proof.jkt, w.proof.jti, proof_expiry(w.proof, w.skew)) for w in writes if w.proof]
        # Before the lock: a token that goes stale is rolled back with the rest.
        last = token_group.spend_and_store(
            conn,
            [(w.verified.agent.client_id, w.verified.jti, w.verified.expires_at) for w in writes],
            proofs,
            [w.token for w in issuing if w.token is not None],
            len(writes),
        )
        checks = [w.currency for w in issuing if w.currency is not None]
        refused = [w.currency[:2] for w in writes if w.token is None and w.currency is not None]
        token_group.log_and_require(conn, [(w.event, w.now) for w in writes], last, checks, refused)
        token_group.require_delegations(conn, [w.delegation for w in issuing if w.delegation is not None])
        if not all(w.still_current(conn) for w in issuing if w.currency is None and w.delegation is None):
            raise NotTogether("a decision went stale")
        purge_sometimes(conn, len(writes), now=now, skew=skew)
        return [w.event for w in writes]

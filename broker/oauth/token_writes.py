"""What a token request writes, alone or set-wise with the other requests of a group commit.

Every token request ends in the same write: spend the client assertion (and the DPoP proof),
append the decision's log record, re-check that what the decision rested on still holds and, when
a token was issued, store it. `TokenWrite` does that for one request; `run_together` does it for a
run of requests in a fixed number of statements (broker/storage/token_group.py), giving the same
rows in the same order as the requests written one after another, and raising when any of them
would fail, so that the batcher (broker/storage/batch.py) writes each alone and each fails alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from broker.grantlog import events
from broker.oauth.client_auth import VerifiedAssertion, purge_sometimes, spend_assertion
from broker.oauth.client_credentials import StaleDecision
from broker.oauth.dpop import InvalidDPoPProof, VerifiedProof
from broker.storage import Connection, recheck, token_group
from broker.storage import tokens as token_store
from broker.storage.recheck import Recheck

DPOP_PROOF_WINDOW = 60


def proof_expiry(proof: VerifiedProof, skew: int) -> float:
    """How long a DPoP proof's id must be remembered: until no clock could still accept it."""
    return proof.iat + DPOP_PROOF_WINDOW + 2 * skew


def spend(
    conn: Connection, verified: VerifiedAssertion, proof: VerifiedProof | None, now: float, skew: int
) -> None:
    """Spend a request's assertion and proof; raises InvalidClient or InvalidDPoPProof on a replay."""
    spend_assertion(conn, verified, now=now, skew=skew)
    if proof is not None and not token_store.spend_proof_jti(
        conn, proof.jkt, proof.jti, proof_expiry(proof, skew)
    ):
        raise InvalidDPoPProof("the DPoP proof was already used")


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenWrite:
    """One token request's write. `token` is None for a refusal, which is logged but not stored.
    `recheck` is what the decision rested on (None: nothing, an unknown subject); a refusal's is
    re-checked too, since it may rest on a remembered user row (broker/oauth/caches/users.py) and
    a grant committed since may allow it now."""

    verified: VerifiedAssertion
    proof: VerifiedProof | None
    now: float
    skew: int
    event: events.Event
    token: token_store.TokenRecord | None
    recheck: Recheck | None = None
    # `run_together` reads no result a pipeline holds back (a rowcount, an unfetched row) and
    # what would fail it fails a statement, so a batch of these may go in one pipeline with its
    # COMMIT (broker/storage/batch.py).
    together_in_pipeline: ClassVar[bool] = True

    def __call__(self, conn: Connection) -> events.Event:
        spend(conn, self.verified, self.proof, self.now, self.skew)
        events.append(conn, self.event, now=self.now)
        # After the append, which holds the log head's lock: a policy change that commits first is
        # seen here, one that commits later is ordered after this token.
        if self.recheck is not None and not recheck.holds(conn, [self.recheck]):
            raise StaleDecision
        if self.token is not None:
            token_store.insert_token(conn, self.token)
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
        rows, terms = events.event_rows([(w.event, w.now) for w in writes], last=last)
        token_group.log_and_require(conn, rows, terms, [w.recheck for w in writes if w.recheck is not None])
        purge_sometimes(conn, len(writes), now=now, skew=skew)
        return [w.event for w in writes]

"""Pruning what is of no use once its token has expired: token rows and revocation-feed entries.

A token row is needed while the token can still be presented: introspection, RFC 7009 revocation,
cascades to its descendants (which never outlive it) and the exchange of it. Past its `exp` each of
those gives the same answer with or without the row. The feed keeps an entry for
`FEED_EXPIRY_GRACE` past its token's `exp`, so that holders accepting a just-expired token under
their clock skew still learn of the revocation. Both are kept for that grace plus the broker's clock
skew, then deleted in short transactions, so a writer never waits long behind a prune. The grant
log keeps the record of every token for good.

Expired tokens are found by walking the grant log, which records each token as it is issued, up to
the longest lifetime the broker grants ago: the tokens table has no index on expiry, so issuing a
token pays nothing for pruning (such an index cost about 8 % of grants/s, measured).
"""

from __future__ import annotations

import logging

from broker.context import ServiceContext
from broker.oauth.endpoint import FEED_EXPIRY_GRACE
from broker.periodic import PeriodicThread
from broker.services.principals import prune_sign_in_state
from broker.storage import tokens as token_store

log = logging.getLogger(__name__)
PRUNE_BATCH = 2000


def prune(ctx: ServiceContext, *, batch: int = PRUNE_BATCH) -> tuple[int, int]:
    """Delete every expired token and feed entry past the grace; returns (tokens, feed entries)."""
    settings = ctx.settings
    expired_before = ctx.clock() - FEED_EXPIRY_GRACE - settings.clock_skew_seconds
    # No token outlives the longest lifetime the broker grants (policy.Limits caps every flow).
    issued_before = expired_before - settings.max_token_lifetime
    tokens = entries = 0
    while True:
        with ctx.store.write() as conn:
            walked, deleted = token_store.prune_tokens(
                conn, issued_before=issued_before, expired_before=expired_before, limit=batch
            )
        tokens += deleted
        if walked < batch:
            break
    while True:
        with ctx.store.write() as conn:
            deleted = token_store.prune_revocations(conn, expired_before, batch)
        entries += deleted
        if deleted < batch:
            return tokens, entries


class Pruner(PeriodicThread):
    """Prunes every `interval` seconds (0: never; `discretion prune` does it by hand)."""

    def __init__(self, ctx: ServiceContext, interval: float) -> None:
        super().__init__("pruner", interval, lambda: _prune_and_report(ctx))


def _prune_and_report(ctx: ServiceContext) -> None:
    tokens, entries = prune(ctx)
    prune_sign_in_state(ctx)  # ended console sessions and failure windows: bounded tables stay small
    if tokens or entries:
        log.info("pruned %d expired tokens and %d feed entries", tokens, entries)

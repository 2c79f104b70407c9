"""Pure decision logic for the Discretion broker: standard library only, no clock, no I/O.

The scope grammar is discretion_wire's (also standard library only), shared with the SDK.
"""

from discretion_wire.scopes import Scope, ScopeError, all_covered, parse_scope_string, parse_scopes

from policy.decision import Decision, Denial, Reason
from policy.delegation import ExchangeRequest, ParentToken, decide_exchange, exchange_lifetime
from policy.engine import POLICY_VERSION, Limits, TokenRequest, decide_token, lifetime_for
from policy.grants import MAX_DELEGATION_DEPTH, Grant
from policy.parties import (
    Effect,
    EntryKind,
    ListEntry,
    ListMode,
    Party,
    Role,
    canonical_agent,
    check_parties,
    normalize_organization,
)
from policy.skeleton import skeleton

__all__ = [
    "MAX_DELEGATION_DEPTH",
    "POLICY_VERSION",
    "Decision",
    "Denial",
    "Effect",
    "EntryKind",
    "ExchangeRequest",
    "Grant",
    "Limits",
    "ListEntry",
    "ListMode",
    "ParentToken",
    "Party",
    "Reason",
    "Role",
    "Scope",
    "ScopeError",
    "TokenRequest",
    "all_covered",
    "canonical_agent",
    "check_parties",
    "decide_exchange",
    "decide_token",
    "exchange_lifetime",
    "lifetime_for",
    "normalize_organization",
    "parse_scope_string",
    "parse_scopes",
    "skeleton",
]

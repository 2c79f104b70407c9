"""Table definitions (SQLAlchemy Core). Times are epoch seconds as floats on both stores."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

# Log positions, tree sizes and feed cursors: 64 bits (PostgreSQL's INTEGER would run out within a
# month at a thousand grants a second). SQLite's INTEGER is already 64 bits, and only INTEGER
# PRIMARY KEY is its rowid, which the feed's autoincrementing cursor relies on.
LogPosition = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Organizations an admin registered. `identity` is the organization this one was declared the same
# as (itself otherwise); parent, identity and names never change, so what an agent's record says its
# organization covers (agents.organization_cover) stays true.
organizations = Table(
    "organizations",
    metadata,
    Column("org_id", String(64), primary_key=True),
    Column("display_name", String(200), nullable=False),
    Column("parent_id", String(64), ForeignKey("organizations.org_id")),
    Column("identity", String(64), nullable=False, index=True),
    Column("country", String(8)),
    Column("created_at", Float, nullable=False),
)

# Every name, legal-name alias and domain of an organization, with its skeleton (policy.skeleton).
# Two organizations may share a skeleton only when they have the same identity (checked in
# services/organizations.py, under the write lock).
organization_names = Table(
    "organization_names",
    metadata,
    Column("org_id", String(64), ForeignKey("organizations.org_id"), primary_key=True),
    Column("kind", String(8), primary_key=True),
    Column("value", String(253), primary_key=True),
    Column("skeleton", String(253), nullable=False, index=True),
)

agents = Table(
    "agents",
    metadata,
    Column("client_id", String(128), primary_key=True),
    Column("name", String(200), nullable=False),
    # The organization's id (organizations.org_id).
    Column("organization", String(200), nullable=False, index=True),
    Column("organization_display", String(200), nullable=False),
    # What an organization entry may name to cover this agent (policy.Party.organizations),
    # space-separated; computed at registration from facts that never change.
    Column("organization_cover", Text, nullable=False, server_default=""),
    Column("locale", String(8), nullable=False),
    Column("jwks", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

agent_resources = Table(
    "agent_resources",
    metadata,
    Column("resource_uri", String(2048), primary_key=True),
    Column("client_id", String(128), ForeignKey("agents.client_id"), nullable=False, index=True),
)

users = Table(
    "users",
    metadata,
    # `ref` is the broker's own opaque id; the grant log uses it so that it holds no user id.
    Column("ref", String(40), primary_key=True),
    Column("user_id", String(256), nullable=False, unique=True),
    Column("list_mode", String(16), nullable=False),
    # Bumped by every change to the user's grants or lists; token issuance decides outside the
    # write transaction and re-checks this inside it, so no token slips past a concurrent block.
    Column("policy_version", Integer, nullable=False, server_default="0"),
    Column("created_at", Float, nullable=False),
)

auditors = Table(
    "auditors",
    metadata,
    Column("auditor_id", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("created_at", Float, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(40), primary_key=True),
    Column("secret_hash", LargeBinary(32), nullable=False),
    Column("role", String(16), nullable=False),
    Column("principal", String(40), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("revoked_at", Float),
    Column("label", String(64)),
    Column("last_used_at", Float),
)

# Console sessions, one row per signed-in browser: the cookie names the row by its random id (only
# its SHA-256 is stored), so signing out or losing the key ends the session on every replica.
console_sessions = Table(
    "console_sessions",
    metadata,
    Column("sid_hash", LargeBinary(32), primary_key=True),
    Column("key_id", String(40), nullable=False, index=True),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
)

# Failed sign-ins per bucket (a hash of the key id, or of the source address), in fixed windows.
# The bucket space is fixed, so unauthenticated noise cannot grow this table past its size.
sign_in_failures = Table(
    "sign_in_failures",
    metadata,
    Column("bucket", Integer, primary_key=True, autoincrement=False),
    Column("window_start", Float, nullable=False),
    Column("failures", Integer, nullable=False),
)

grants = Table(
    "grants",
    metadata,
    Column("grant_id", String(40), primary_key=True),
    Column("user_ref", String(40), ForeignKey("users.ref"), nullable=False),
    Column("agent", String(128)),
    Column("organization", String(200)),
    Column("resource", String(2048), nullable=False),
    Column("scopes", Text, nullable=False),
    Column("max_ttl_seconds", Integer, nullable=False),
    Column("expires_at", Float),
    Column("max_delegation_depth", Integer, nullable=False),
    Column("reveal", Text, nullable=False),
    # Registered purpose codes (JSON list, `purposes.code`); empty: tokens need not name one.
    Column("purposes", Text, nullable=False, server_default="[]"),
    # Tokens under this grant must be sender-constrained with DPoP (RFC 9449).
    Column("require_dpop", Boolean, nullable=False, server_default=false()),
    Column("created_at", Float, nullable=False),
    Column("revoked_at", Float),
    # Budgets (docs/resilience.md): None is unlimited. Counted in budget_usage.
    Column("tokens_per_hour", Integer),
    Column("disclosures_per_day", Integer),
    Index("ix_grants_user_resource", "user_ref", "resource"),
)

# The purpose vocabulary (docs/api.md, purposes): admins register codes; grants list them and
# token requests name one. A retired purpose stays, so that the log's mentions of it still read.
purposes = Table(
    "purposes",
    metadata,
    Column("code", String(64), primary_key=True),
    Column("description", String(200), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("retired_at", Float),
)

# Spent budget per grant, kind ("tokens" or "disclosures") and window (its start, in hours or
# days since the epoch); one conditional upsert spends a unit (broker/storage/budgets.py).
budget_usage = Table(
    "budget_usage",
    metadata,
    Column("grant_id", String(40), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("window_start", Integer, primary_key=True),
    Column("used", Integer, nullable=False),
)

list_entries = Table(
    "list_entries",
    metadata,
    Column("entry_id", String(40), primary_key=True),
    Column("user_ref", String(40), ForeignKey("users.ref"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("value", String(200), nullable=False),
    Column("effect", String(8), nullable=False),
    Column("note", String(500)),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("user_ref", "kind", "value", "effect", name="uq_list_entries_rule"),
)

tokens = Table(
    "tokens",
    metadata,
    Column("jti", String(64), primary_key=True),
    Column("user_ref", String(40), nullable=False),
    Column("grant_id", String(40), nullable=False, index=True),
    Column("client_id", String(128), nullable=False),
    Column("holder_id", String(128), nullable=False),
    Column("audience", String(2048), nullable=False),
    # Every agent taking part (requester, actors, holder), space-separated, for block checks.
    Column("parties", Text, nullable=False),
    Column("parent_jti", String(64), index=True),
    Column("kid", String(64), nullable=False),
    Column("issued_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("revoked_at", Float),
    Index("ix_tokens_user_live", "user_ref", "expires_at"),
)

revocations = Table(
    "revocations",
    metadata,
    Column("seq", LogPosition, primary_key=True, autoincrement=True),
    Column("jti", String(64), nullable=False),
    Column("audience", String(2048), nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("revoked_at", Float, nullable=False),
    Column("reason", String(40), nullable=False),
    Index("ix_revocations_audience_seq", "audience", "seq"),
)

# Single-use client-assertion ids (RFC 7523 section 3, item 7), kept until the assertion expires.
assertion_jtis = Table(
    "assertion_jtis",
    metadata,
    Column("client_id", String(128), primary_key=True),
    Column("jti", String(256), primary_key=True),
    Column("expires_at", Float, nullable=False, index=True),
)

# Single-use DPoP proof ids (RFC 9449 section 11.1), per key thumbprint, kept until the proof's
# iat window has passed.
proof_jtis = Table(
    "proof_jtis",
    metadata,
    Column("jkt", String(64), primary_key=True),
    Column("jti", String(256), primary_key=True),
    Column("expires_at", Float, nullable=False, index=True),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("alg", String(16), nullable=False),
    Column("public_jwk", Text, nullable=False),
    Column("private_key_sealed", LargeBinary, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("retired_at", Float),
)

# The append-only grant log. `seq` is assigned from log_head inside the action's transaction, so
# it is contiguous and linear; `leaf_hash` is the RFC 9162 leaf hash the Merkle tree is built on.
grant_log = Table(
    "grant_log",
    metadata,
    Column("seq", LogPosition, primary_key=True, autoincrement=False),
    Column("ts", Float, nullable=False),
    Column("event_type", String(40), nullable=False, index=True),
    Column("subject_ref", String(40), index=True),
    Column("jti", String(64), index=True),
    Column("event", Text, nullable=False),
    Column("leaf_hash", String(64), nullable=False),
)

log_head = Table(
    "log_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("size", LogPosition, nullable=False),
)

# How far pruning has walked the grant log looking for expired tokens (one row, id 1).
prune_marks = Table(
    "prune_marks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("tokens_through", LogPosition, nullable=False),
)

# An inverted index over the grant log for auditor queries: one row per (term, seq), where a term
# is `kind:value` (agent in any chain position, resource, decision, reason). Written by
# audit.append in the same transaction as the event.
grant_log_terms = Table(
    "grant_log_terms",
    metadata,
    Column("term", String(2100), primary_key=True),
    Column("seq", LogPosition, primary_key=True, autoincrement=False),
)

# Ed25519 keys that sign the grant log's checkpoints: separate from the token-signing keys, so
# that rotating one never touches the other. Retired keys stay to verify old checkpoints.
checkpoint_keys = Table(
    "checkpoint_keys",
    metadata,
    Column("key_id", String(80), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("verifier_key", Text, nullable=False),
    Column("private_key_sealed", LargeBinary, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("retired_at", Float),
)

# Signed checkpoints (C2SP signed-note format), one per tree size.
checkpoints = Table(
    "checkpoints",
    metadata,
    Column("tree_size", LogPosition, primary_key=True, autoincrement=False),
    Column("root_hash", String(64), nullable=False),
    Column("ts", Float, nullable=False),
    Column("key_id", String(80), nullable=False),
    Column("note", Text, nullable=False),
)

# Resilience (broker/resilience): the detector's shared state, one row (id 1). One process at a time
# (the `owner`, while its lease runs) runs the detector; `version` is bumped by every save, which
# is a compare-and-set, so a process whose lease was taken over never overwrites its successor.
resilience_state = Table(
    "resilience_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", LogPosition, nullable=False),
    Column("cursor", LogPosition, nullable=False),
    Column("state", Text, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("owner", String(64), nullable=False),
    Column("lease_until", Float, nullable=False),
)

# One row per detection; the id is derived from the log (broker/resilience/detector.py), so a
# round that runs twice writes it once.
detections = Table(
    "detections",
    metadata,
    Column("detection_id", String(24), primary_key=True),
    Column("seq", LogPosition, nullable=False),
    Column("ts", Float, nullable=False, index=True),
    Column("kind", String(40), nullable=False),
    Column("action", String(16), nullable=False),
    Column("applied", Boolean, nullable=False),
    Column("status", String(16), nullable=False),
    Column("evidence", Text, nullable=False),
    Column("released_at", Float),
    Column("released_by", String(40)),
)

detection_agents = Table(
    "detection_agents",
    metadata,
    Column("client_id", String(128), primary_key=True),
    Column("detection_id", String(24), primary_key=True),
)

# Agents under a response: throttled until `until`, or quarantined until an admin releases them.
agent_watch = Table(
    "agent_watch",
    metadata,
    Column("client_id", String(128), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("until", Float),
    Column("detection_id", String(24), nullable=False),
    Column("since", Float, nullable=False),
)

"""Migration 0011: grants' free-text purposes become registered purposes, and back; the migrated
tables match broker/storage/schema.py."""

from __future__ import annotations

import json

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import text

from broker.settings import Settings
from broker.storage.db import MIGRATIONS, Store
from broker.storage.schema import metadata


def _alembic(store: Store, target: str, *, down: bool = False) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(config, target)


def _legacy_grants(store: Store) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (ref, user_id, list_mode, policy_version, created_at) "
                "VALUES ('u1', 'alice', 'blocklist', 1, 1)"
            )
        )
        for grant_id, purpose in (
            ("g1", "trip-planning"),
            ("g2", "trip-planning"),
            ("g3", "treatment of my diabetes"),
            ("g4", None),
        ):
            conn.execute(
                text(
                    "INSERT INTO grants (grant_id, user_ref, agent, resource, scopes, max_ttl_seconds, "
                    "max_delegation_depth, reveal, purpose, created_at) VALUES "
                    "(:g, 'u1', 'travel', 'https://r.example/api', '[\"a:read\"]', 60, 0, '[]', :p, 1)"
                ),
                {"g": grant_id, "p": purpose},
            )


def test_free_text_purposes_become_registered_ones_and_back(settings: Settings) -> None:
    store = Store(settings.resolved_database_url)
    try:
        _alembic(store, "0010", down=True)
        _legacy_grants(store)
        _alembic(store, "head")
        with store.engine.connect() as conn:
            purposes = {r.code: r.description for r in conn.execute(text("SELECT * FROM purposes"))}
            listed = {
                r.grant_id: json.loads(r.purposes)
                for r in conn.execute(text("SELECT grant_id, purposes FROM grants"))
            }
        (derived,) = [code for code in purposes if code != "trip-planning"]
        # A valid code is kept as it was; prose becomes a code, its text the description.
        assert purposes["trip-planning"] == "trip-planning"
        assert derived.startswith("treatment-of-my-diabetes-")
        assert purposes[derived] == "treatment of my diabetes"
        assert listed == {"g1": ["trip-planning"], "g2": ["trip-planning"], "g3": [derived], "g4": []}
        _alembic(store, "0010", down=True)
        with store.engine.connect() as conn:
            back = {r.grant_id: r.purpose for r in conn.execute(text("SELECT grant_id, purpose FROM grants"))}
        assert back == {"g1": "trip-planning", "g2": "trip-planning", "g3": derived, "g4": None}
        _alembic(store, "head")
        with store.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert [d for d in diff if "purpose" in repr(d)] == []
    finally:
        store.dispose()

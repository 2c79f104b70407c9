"""Migration 0009: free-text organizations become registered ones, and back."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from broker.storage.db import MIGRATIONS, Store


def _alembic(store: Store, target: str, *, down: bool = False) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(config, target)


def _legacy(store: Store) -> None:
    with store.engine.begin() as conn:
        for client_id, org, display in (
            ("ad-1", "adcorp", "AdCorp"),
            ("ad-2", "adcorp, inc.", "AdCorp, Inc."),
            ("other", "other ltd", "Other Ltd"),
        ):
            conn.execute(
                text(
                    "INSERT INTO agents (client_id, name, organization, organization_display, locale, jwks, "
                    "status, created_at, updated_at) VALUES (:c, :c, :o, :d, 'US', '{}', 'active', 1, 1)"
                ),
                {"c": client_id, "o": org, "d": display},
            )
        conn.execute(text("INSERT INTO agent_resources VALUES ('HTTPS://Api.Example.com:443/cal/', 'ad-1')"))
        conn.execute(
            text(
                "INSERT INTO users (ref, user_id, list_mode, policy_version, created_at) "
                "VALUES ('u1', 'alice', 'blocklist', 3, 1)"
            )
        )
        for entry_id, kind, value in (
            ("e1", "organization", "adcorp"),
            ("e2", "organization", "adcorp, inc."),
            ("e3", "agent", "AD-1"),
            ("e4", "locale", "US"),
        ):
            conn.execute(
                text(
                    "INSERT INTO list_entries (entry_id, user_ref, kind, value, effect, created_at) "
                    "VALUES (:e, 'u1', :k, :v, 'block', 1)"
                ),
                {"e": entry_id, "k": kind, "v": value},
            )
        conn.execute(
            text(
                "INSERT INTO grants (grant_id, user_ref, organization, resource, scopes, max_ttl_seconds, "
                "max_delegation_depth, reveal, created_at) VALUES ('g1', 'u1', 'other ltd', "
                "'HTTPS://Api.Example.com:443/cal/', 'cal:read', 60, 0, '', 1)"
            )
        )


def test_free_text_organizations_become_registered_and_back(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        _alembic(store, "0007")
        _legacy(store)
        _alembic(store, "0009")
        with store.engine.connect() as conn:
            orgs = conn.execute(
                text("SELECT org_id, display_name, identity FROM organizations ORDER BY org_id")
            ).all()
            # "adcorp" and "adcorp, inc." have one skeleton: one organization, the other spelling an alias.
            assert [(o.org_id, o.identity) for o in orgs] == [
                ("adcorp", "adcorp"),
                ("other-ltd", "other-ltd"),
            ]
            names = conn.execute(
                text("SELECT kind, value FROM organization_names WHERE org_id = 'adcorp' ORDER BY kind")
            ).all()
            assert [(n.kind, n.value) for n in names] == [("alias", "AdCorp, Inc."), ("name", "AdCorp")]
            agents = dict(conn.execute(text("SELECT client_id, organization FROM agents")).all())
            assert agents == {"ad-1": "adcorp", "ad-2": "adcorp", "other": "other-ltd"}
            cover = conn.execute(
                text("SELECT organization_cover FROM agents WHERE client_id = 'ad-2'")
            ).scalar_one()
            assert cover.split() == ["adcorp", "name:adcorp"]
            entries = conn.execute(text("SELECT kind, value FROM list_entries ORDER BY kind, value")).all()
            assert [(e.kind, e.value) for e in entries] == [
                ("agent", "ad-1"),
                ("locale", "US"),
                ("organization", "adcorp"),
            ]
            assert conn.execute(text("SELECT organization, resource FROM grants")).one() == (
                "other-ltd",
                "https://api.example.com/cal",
            )
            assert (
                conn.execute(text("SELECT resource_uri FROM agent_resources")).scalar_one()
                == "https://api.example.com/cal"
            )
            assert conn.execute(text("SELECT policy_version FROM users")).scalar_one() == 4
        _alembic(store, "0007", down=True)
        with store.engine.connect() as conn:
            agents = dict(conn.execute(text("SELECT client_id, organization FROM agents")).all())
            assert agents == {"ad-1": "adcorp", "ad-2": "adcorp", "other": "other ltd"}
            tables = {r[0] for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'"))}
            assert "organizations" not in tables
    finally:
        store.dispose()

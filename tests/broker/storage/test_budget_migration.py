"""Migration 0010 (grant budgets) goes down and up on SQLite and PostgreSQL, keeping the grants."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect

from broker.settings import Settings
from broker.storage.db import MIGRATIONS, Store


def _columns(store: Store, table: str) -> set[str]:
    with store.engine.connect() as conn:
        return {c["name"] for c in inspect(conn).get_columns(table)}


def test_the_budget_migration_goes_down_and_up(settings: Settings) -> None:
    store = Store(settings.resolved_database_url)
    try:
        store.migrate()
        assert {"tokens_per_hour", "disclosures_per_day"} <= _columns(store, "grants")
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with store.engine.connect() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0007")
            conn.commit()
        assert "tokens_per_hour" not in _columns(store, "grants")
        with store.engine.connect() as conn:
            assert not inspect(conn).has_table("budget_usage")
        store.migrate()
        assert {"tokens_per_hour", "disclosures_per_day"} <= _columns(store, "grants")
        with store.engine.connect() as conn:
            assert inspect(conn).has_table("budget_usage")
    finally:
        store.dispose()

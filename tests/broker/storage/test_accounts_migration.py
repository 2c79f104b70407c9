"""Migration 0008 (key labels and last use, console sessions, failed sign-in counters): down and up
on SQLite and PostgreSQL, and the migrated tables match broker/storage/schema.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from broker.settings import Settings
from broker.storage.db import MIGRATIONS, Store
from broker.storage.schema import metadata

NEW_TABLES = {"console_sessions", "sign_in_failures"}


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    store = Store(settings.resolved_database_url)
    yield store
    store.dispose()


def _tables_and_key_columns(store: Store) -> tuple[set[str], set[str]]:
    with store.engine.connect() as conn:
        inspector = inspect(conn)
        return set(inspector.get_table_names()), {c["name"] for c in inspector.get_columns("api_keys")}


def test_the_migration_goes_down_and_up(store: Store) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.connect() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0007")
        conn.commit()
    tables, columns = _tables_and_key_columns(store)
    assert not tables & NEW_TABLES
    assert not columns & {"label", "last_used_at"}
    store.migrate()
    tables, columns = _tables_and_key_columns(store)
    assert tables >= NEW_TABLES
    assert columns >= {"label", "last_used_at"}


def test_the_migrated_tables_match_the_schema(store: Store) -> None:
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    ours = [d for d in diff if any(name in repr(d) for name in (*NEW_TABLES, "api_keys"))]
    assert ours == []

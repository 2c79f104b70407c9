"""Alembic environment: runs on the connection that broker.storage.db.Store.migrate passes in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from broker.storage.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    # Invoked from the alembic command line (for autogenerate): use the URL it was given.
    connection = create_engine(context.config.get_main_option("sqlalchemy.url") or "").connect()

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
if connection.in_transaction():
    connection.commit()

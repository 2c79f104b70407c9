"""Who is calling: API keys and the roles they carry, for the API and the console."""

from __future__ import annotations

from broker.context import ServiceContext
from broker.services.records import Principal, Role, UserRecord
from broker.storage import principals

__all__ = ["Principal", "Role", "UserRecord", "authenticate"]


def authenticate(ctx: ServiceContext, presented: str) -> Principal | None:
    """The principal of a valid, unrevoked API key, or None (compared in constant time)."""
    with ctx.store.read() as conn:
        return principals.authenticate_api_key(conn, presented)

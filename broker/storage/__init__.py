"""The store: the only package that holds SQL or driver calls.

Every other package reaches the database through the small interfaces here (one module per
concern) and names the connection and a database failure by the names below, never SQLAlchemy's.
"""

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError as StoreUnavailable

__all__ = ["Connection", "StoreUnavailable"]

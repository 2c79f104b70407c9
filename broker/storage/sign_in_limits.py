"""Counters of failed sign-ins, per bucket and fixed window, shared by replicas through the store.

A bucket is a number: a hash of a presented key id, or of a source address, folded into a fixed
range. The table therefore never holds more than `2 * BUCKETS` rows, whatever unauthenticated
callers send; two ids sharing a bucket share its counter (documented in docs/threat-model.md).
"""

from __future__ import annotations

import hashlib
import ipaddress

from sqlalchemy import Connection, case, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from broker.storage.schema import sign_in_failures

BUCKETS = 1 << 16
_KEY_BASE = 0
_ADDRESS_BASE = BUCKETS


def _fold(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") % BUCKETS


def key_bucket(key_id: str) -> int:
    """The bucket of a presented key id."""
    return _KEY_BASE + _fold("key:" + key_id)


def address_bucket(address: str) -> int:
    """The bucket of a source address: IPv4 by address, IPv6 by its /64 (one host's share)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        text = "other:" + address[:64]
    else:
        mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
        if mapped is not None or ip.version == 4:
            text = str(mapped or ip)
        else:
            text = str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return _ADDRESS_BASE + _fold("address:" + text)


def wait_seconds(conn: Connection, limits: dict[int, int], *, now: float, window: float) -> float:
    """How long until every bucket in `limits` (bucket -> failures allowed per window) is under
    its limit again; 0 when none is at it."""
    rows = conn.execute(
        select(sign_in_failures.c.bucket, sign_in_failures.c.window_start, sign_in_failures.c.failures).where(
            sign_in_failures.c.bucket.in_(sorted(limits)), sign_in_failures.c.window_start > now - window
        )
    ).all()
    wait = 0.0
    for row in rows:
        if row.failures >= limits[row.bucket]:
            wait = max(wait, row.window_start + window - now)
    return wait


def record_failure(conn: Connection, buckets: list[int], *, now: float, window: float) -> None:
    """Count one failure in each bucket: a new window when the bucket's last one has ended."""
    if not buckets:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    table = sign_in_failures
    for bucket in sorted(set(buckets)):  # a fixed order: concurrent writers lock rows alike
        ended = table.c.window_start <= now - window
        statement = dialect.insert(table).values(bucket=bucket, window_start=now, failures=1)
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=[table.c.bucket],
                set_={
                    "window_start": case((ended, now), else_=table.c.window_start),
                    "failures": case((ended, 1), else_=table.c.failures + 1),
                },
            )
        )


def prune(conn: Connection, *, now: float, window: float) -> int:
    """Delete counters whose window has ended; returns how many."""
    return conn.execute(
        delete(sign_in_failures).where(sign_in_failures.c.window_start <= now - window)
    ).rowcount

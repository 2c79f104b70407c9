"""The buckets failed sign-ins are counted in: what shares a bucket, and the fixed range."""

from __future__ import annotations

import secrets

from broker.storage import sign_in_limits
from broker.storage.sign_in_limits import BUCKETS, address_bucket, key_bucket


def test_an_ipv6_host_is_counted_by_its_64_bit_prefix() -> None:
    # One host can take any address in its /64: counting by address would give it 2^64 budgets.
    assert address_bucket("2001:db8:1:2::1") == address_bucket("2001:db8:1:2:ffff:ffff:ffff:ffff")
    assert address_bucket("2001:db8:1:2::1") != address_bucket("2001:db8:1:3::1")


def test_an_ipv4_mapped_address_counts_as_the_ipv4_address() -> None:
    assert address_bucket("::ffff:192.0.2.1") == address_bucket("192.0.2.1")


def test_key_and_address_buckets_stay_in_their_own_fixed_ranges() -> None:
    keys = {key_bucket(secrets.token_hex(8)) for _ in range(500)}
    addresses = {address_bucket(f"198.51.100.{i}") for i in range(256)} | {address_bucket("not an address")}
    assert all(0 <= b < BUCKETS for b in keys)
    assert all(BUCKETS <= b < 2 * BUCKETS for b in addresses)
    assert sign_in_limits._ADDRESS_BASE == BUCKETS

"""RFC 9162 Merkle tree: hashing with domain separation, inclusion and consistency proofs.

Standard library only, so the offline verifier can use it without the broker's dependencies.
The tree keeps every perfect subtree's hash per level (2n hashes for n leaves), so appending is
O(1) amortized and a proof reads O(log n) stored nodes instead of rehashing the log.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()  # RFC 9162 section 2.1.1: MTH({}) = HASH()


class ProofError(ValueError):
    """A proof is malformed or does not verify."""


def hash_leaf(data: bytes) -> bytes:
    """RFC 9162 section 2.1.1: leaf hash is HASH(0x00 || entry)."""
    return hashlib.sha256(b"\x00" + data).digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    """RFC 9162 section 2.1.1: interior node hash is HASH(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1): where RFC 9162 splits a tree."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleTree:
    """An append-only tree over leaf hashes; `levels[l][i]` covers leaves [i*2^l, (i+1)*2^l)."""

    __slots__ = ("levels",)

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self.levels: list[list[bytes]] = [[]]
        for leaf in leaf_hashes:
            self.append(leaf)

    @property
    def size(self) -> int:
        """How many leaves the tree holds."""
        return len(self.levels[0])

    def append(self, leaf: bytes) -> None:
        """Add a leaf hash, completing every perfect subtree it closes."""
        levels = self.levels
        levels[0].append(leaf)
        # Level l has n >> l nodes: each trailing zero bit of the new size n closes one subtree.
        n, level = len(levels[0]), 0
        while n & 1 == 0:
            nodes = levels[level]
            if level + 1 == len(levels):
                levels.append([])
            levels[level + 1].append(hash_children(nodes[-2], nodes[-1]))
            n >>= 1
            level += 1

    def truncate(self, size: int) -> None:
        """Drop leaves past `size` (used when a cache ran ahead of a rolled-back store)."""
        for level, nodes in enumerate(self.levels):
            del nodes[size >> level :]

    def subtree(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for a range whose start is aligned to its left split, as in proofs."""
        n = end - start
        if n <= 0 or end > self.size:
            raise ValueError("range outside the tree")
        if n & (n - 1) == 0 and start % n == 0:
            return self.levels[n.bit_length() - 1][start // n]
        k = _split(n)
        return hash_children(self.subtree(start, start + k), self.subtree(start + k, end))

    def root(self, size: int | None = None) -> bytes:
        """The root hash of the first `size` leaves (all of them by default)."""
        size = self.size if size is None else size
        if size == 0:
            return EMPTY_ROOT
        return self.subtree(0, size)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """RFC 9162 section 2.1.3.1: the audit path of leaf `index` (0-based) in the first `size`."""
        if not 0 <= index < size <= self.size:
            raise ValueError("need 0 <= index < size <= tree size")
        path: list[bytes] = []
        start, end = 0, size
        while end - start > 1:
            k = _split(end - start)
            if index < start + k:
                path.append(self.subtree(start + k, end))
                end = start + k
            else:
                path.append(self.subtree(start, start + k))
                start += k
        path.reverse()
        return path

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """RFC 9162 section 2.1.4.1: proof that the first `first` leaves are a prefix of `second`."""
        if not 0 < first <= second <= self.size:
            raise ValueError("need 0 < first <= second <= tree size")
        path: list[bytes] = []
        start, end, m, whole = 0, second, first, True
        while m != end - start:
            k = _split(end - start)
            if m <= k:
                path.append(self.subtree(start + k, end))
                end = start + k
            else:
                path.append(self.subtree(start, start + k))
                start, m, whole = start + k, m - k, False
        if not whole:
            path.append(self.subtree(start, end))
        path.reverse()
        return path


def verify_inclusion(leaf: bytes, index: int, size: int, path: Sequence[bytes], root: bytes) -> None:
    """RFC 9162 section 2.1.3.2; raises ProofError unless `leaf` is at `index` under `root`."""
    if not 0 <= index < size:
        raise ProofError("leaf index outside the tree")
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            raise ProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = hash_children(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = hash_children(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("inclusion proof is too short")
    if r != root:
        raise ProofError("inclusion proof does not lead to the root")


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, path: Sequence[bytes]
) -> None:
    """RFC 9162 section 2.1.4.2; raises ProofError unless tree `first` is a prefix of `second`."""
    if not 0 < first <= second:
        raise ProofError("need 0 < first <= second")
    if first == second:
        if path or first_root != second_root:
            raise ProofError("equal sizes need equal roots and an empty proof")
        return
    nodes = list(path)
    if first & (first - 1) == 0:
        nodes.insert(0, first_root)
    if not nodes:
        raise ProofError("empty consistency proof")
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = nodes[0]
    for c in nodes[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr, sr = hash_children(c, fr), hash_children(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = hash_children(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("consistency proof is too short")
    if fr != first_root or sr != second_root:
        raise ProofError("the older tree is not a prefix of the newer one (fork)")

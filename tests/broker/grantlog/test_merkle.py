"""The Merkle tree against an independent RFC 9162 implementation (pymerkle), for every tree
size from 1 to 70 and some larger ones."""

from __future__ import annotations

import warnings

import pytest
from pymerkle import InmemoryTree
from pymerkle import verify_consistency as pymerkle_consistency
from pymerkle import verify_inclusion as pymerkle_inclusion

from broker.grantlog.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    ProofError,
    hash_children,
    hash_leaf,
    verify_consistency,
    verify_inclusion,
)

SIZES = [*range(1, 71), 127, 128, 129, 255, 300]


def _trees(n: int) -> tuple[MerkleTree, InmemoryTree]:
    ours, theirs = MerkleTree(), InmemoryTree(algorithm="sha256")
    for i in range(n):
        data = f'{{"seq":{i + 1}}}'.encode()
        ours.append(hash_leaf(data))
        theirs.append_entry(data)
    return ours, theirs


def _root(tree: InmemoryTree, size: int) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # get_state is pymerkle 6's name
        return tree.get_state(size)  # type: ignore[no-any-return]


def _rfc_mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 section 2.1.1 MTH, literally (recursive, no stored nodes)."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hash_children(_rfc_mth(leaves[:k]), _rfc_mth(leaves[k:]))


def _rfc_subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    """RFC 9162 section 2.1.4.1 SUBPROOF, literally."""
    n = len(leaves)
    if m == n:
        return [] if whole else [_rfc_mth(leaves)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return [*_rfc_subproof(m, leaves[:k], whole), _rfc_mth(leaves[k:])]
    return [*_rfc_subproof(m - k, leaves[k:], False), _rfc_mth(leaves[:k])]


@pytest.fixture(scope="module")
def trees() -> tuple[MerkleTree, InmemoryTree]:
    """One tree of 300 leaves in each implementation; prefixes give every smaller tree."""
    return _trees(max(SIZES))


def test_empty_tree_root_is_hash_of_nothing() -> None:
    assert MerkleTree().root() == EMPTY_ROOT


@pytest.mark.parametrize("size", SIZES)
def test_roots_match_pymerkle(trees: tuple[MerkleTree, InmemoryTree], size: int) -> None:
    ours, theirs = trees
    assert ours.root(size) == _root(theirs, size)


@pytest.mark.parametrize("size", SIZES)
def test_inclusion_proofs_match_pymerkle(trees: tuple[MerkleTree, InmemoryTree], size: int) -> None:
    ours, theirs = trees
    root = ours.root(size)
    for index in range(size):
        path = ours.inclusion_proof(index, size)
        verify_inclusion(ours.levels[0][index], index, size, path, root)
        proof = theirs.prove_inclusion(index + 1, size)
        # pymerkle's path starts with the leaf itself, then the RFC 9162 audit path.
        assert proof.serialize()["path"][1:] == [p.hex() for p in path]
        pymerkle_inclusion(ours.levels[0][index], root, proof)


@pytest.mark.parametrize("size", SIZES)
def test_consistency_proofs_match_pymerkle(trees: tuple[MerkleTree, InmemoryTree], size: int) -> None:
    ours, theirs = trees
    for first in range(1, size + 1):
        path = ours.consistency_proof(first, size)
        verify_consistency(first, size, ours.root(first), ours.root(size), path)
        proof = theirs.prove_consistency(first, size)
        pymerkle_consistency(ours.root(first), ours.root(size), proof)
        # pymerkle serializes consistency proofs its own way; compare the path with the RFC text.
        assert path == _rfc_subproof(first, ours.levels[0][:size], True)


def test_a_changed_node_fails_inclusion(trees: tuple[MerkleTree, InmemoryTree]) -> None:
    ours, _ = trees
    path = ours.inclusion_proof(5, 37)
    path[1] = bytes(32)
    with pytest.raises(ProofError):
        verify_inclusion(ours.levels[0][5], 5, 37, path, ours.root(37))


def test_a_proof_for_another_size_fails(trees: tuple[MerkleTree, InmemoryTree]) -> None:
    ours, _ = trees
    path = ours.inclusion_proof(5, 37)
    with pytest.raises(ProofError):
        verify_inclusion(ours.levels[0][5], 5, 38, path, ours.root(38))


def test_a_rewritten_prefix_fails_consistency() -> None:
    honest, _ = _trees(20)
    forked = MerkleTree(honest.levels[0][:20])
    forked.levels[0][3] = hash_leaf(b"rewritten")
    forked = MerkleTree(forked.levels[0])
    for i in range(20, 33):
        forked.append(hash_leaf(b"%d" % i))
    path = forked.consistency_proof(20, 33)
    with pytest.raises(ProofError):
        verify_consistency(20, 33, honest.root(20), forked.root(33), path)


def test_consistency_with_equal_sizes_needs_equal_roots() -> None:
    tree, _ = _trees(9)
    verify_consistency(9, 9, tree.root(), tree.root(), [])
    with pytest.raises(ProofError):
        verify_consistency(9, 9, tree.root(), tree.root(8), [])

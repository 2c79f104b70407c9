"""The grant log: events, the Merkle tree, signed checkpoints, queries, verification and replay."""

"""Offline verification of a grant-log export against signed checkpoints (`discretion audit verify`).

Needs no broker and no database: the export (JSONL, one `{"event", "leaf_hash"}` per line, as
`GET /v1/audit/export` writes it), one or more signed checkpoints, and the trusted verifier keys.

What it can tell, and how exactly:
- deleted, reordered or duplicated (inserted) events: from the sequence numbers, the exact line;
- truncation: a signed checkpoint commits to more events than the export holds;
- a modified event: the recomputed root differs from the signed one. When the export's recorded
  leaf hashes still give the signed root they are genuine, and the first event that does not
  hash to its recorded leaf is the first bad event, exactly. When they were rewritten too, the
  first bad event is bounded by the last checkpoint that still verifies (keep checkpoints often);
- a fork: two signed checkpoints whose trees are not prefix-consistent (the consistency proof
  fails, or the export matches one but not the other);
- a checkpoint signed by a key the auditor does not trust.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from broker.grantlog.checkpoints import Checkpoint, NoteError, UnknownKeyError, Verifier, verify_checkpoint
from broker.grantlog.events import canonical_json
from broker.grantlog.merkle import MerkleTree, ProofError, hash_leaf, verify_consistency


@dataclass
class Report:
    """The verdict: ok, the events read, what is wrong, and the first bad event if one is known."""

    events: int = 0
    problems: list[str] = field(default_factory=list)
    first_bad: int | None = None
    verified_sizes: list[int] = field(default_factory=list)
    uncovered: int = 0

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems

    def bad(self, seq: int | None, message: str) -> None:
        """Record a problem, keeping the earliest bad event."""
        self.problems.append(message)
        if seq is not None and (self.first_bad is None or seq < self.first_bad):
            self.first_bad = seq


class _NotCanonical(ValueError):
    """An export line that another JSON reader could read differently from this one."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise _NotCanonical("duplicate key")
    return dict(pairs)


def _no_constants(name: str) -> Any:
    raise _NotCanonical(f"non-JSON number {name}")


_PREFIX, _MIDDLE, _SUFFIX = b'{"event":', b',"leaf_hash":"', b'"}'


def _event_bytes(line: str) -> tuple[dict[str, Any], bytes, bytes]:
    """The event, its exported bytes and its recorded leaf, from one line in the export's exact form.

    The bytes hashed are the bytes exported, not a re-serialization of what this parser read, and
    they must be the canonical form: a duplicate key or a `NaN` reads one way here and another way
    in the next tool, so such a line is refused rather than verified.
    """
    raw = line.rstrip("\r\n").encode()
    item = json.loads(raw, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    event, leaf_hex = item["event"], item["leaf_hash"]
    if set(item) != {"event", "leaf_hash"} or not isinstance(event, dict) or not isinstance(leaf_hex, str):
        raise _NotCanonical("not an export line")
    body = canonical_json(event)
    if raw != _PREFIX + body + _MIDDLE + leaf_hex.encode() + _SUFFIX:
        raise _NotCanonical("not in canonical form")
    return event, body, bytes.fromhex(leaf_hex)


def _read(lines: Iterable[str], report: Report) -> tuple[MerkleTree, MerkleTree, list[int]]:
    computed, recorded = MerkleTree(), MerkleTree()
    seqs: list[int] = []
    structural: int | None = None
    for position, line in enumerate((ln for ln in lines if ln.strip()), start=1):
        try:
            event, body, recorded_leaf = _event_bytes(line)
            seq = event["seq"]
            if type(seq) is not int:
                raise _NotCanonical("seq is not an integer")
        except _NotCanonical as exc:
            report.bad(position, f"line {position}: refused, {exc}")
            return computed, recorded, seqs
        except (ValueError, KeyError, TypeError) as exc:
            report.bad(position, f"line {position}: not an export line ({exc.__class__.__name__})")
            return computed, recorded, seqs
        if structural is None and seq != position:
            structural = position
        seqs.append(seq)
        computed.append(hash_leaf(body))
        recorded.append(recorded_leaf)
    report.events = computed.size
    if structural is not None:
        _explain_order(seqs, structural, report)
    return computed, recorded, seqs


def _explain_order(seqs: list[int], position: int, report: Report) -> None:
    seen: set[int] = set()
    for index, seq in enumerate(seqs, start=1):
        if seq in seen:
            report.bad(index, f"event {index}: inserted (line {index} repeats seq {seq})")
            return
        seen.add(seq)
    missing = sorted(set(range(1, len(seqs) + 1)) - seen)
    if missing and max(seen) > len(seqs):
        report.bad(missing[0], f"event {missing[0]}: deleted (the log skips from {missing[0] - 1})")
        return
    if missing:
        report.bad(position, f"event {position}: inserted (seq {seqs[position - 1]} out of place)")
        return
    report.bad(position, f"event {position}: reordered (line {position} holds seq {seqs[position - 1]})")


def verify(
    lines: Iterable[str],
    notes: list[str],
    verifiers: list[Verifier],
    *,
    consistency: dict[str, Any] | None = None,
) -> Report:
    """Check an export against signed checkpoints; see the module docstring for what it reports."""
    report = Report()
    signed: list[Checkpoint] = []
    for note in notes:
        try:
            signed.append(verify_checkpoint(note, verifiers))
        except UnknownKeyError as exc:
            report.bad(None, f"checkpoint rejected: {exc}")
        except NoteError as exc:
            report.bad(None, f"checkpoint rejected: {exc}")
    if not signed and not report.problems:
        report.bad(None, "no checkpoint to verify against")
    signed.sort(key=lambda c: c.size)
    origins = {c.origin for c in signed}
    if len(origins) > 1:
        report.bad(None, f"checkpoints from different logs: {sorted(origins)}")
    computed, recorded, _ = _read(lines, report)
    structural = report.first_bad
    _check_consistency(signed, consistency, report)
    last_good = 0
    for checkpoint in signed:
        if checkpoint.size > computed.size:
            report.bad(
                computed.size + 1,
                f"event {computed.size + 1}: truncated (the export holds {computed.size} events, "
                f"a checkpoint signs {checkpoint.size})",
            )
            continue
        if computed.root(checkpoint.size) == checkpoint.root:
            report.verified_sizes.append(checkpoint.size)
            last_good = checkpoint.size
            continue
        if structural is None:
            _locate(computed, recorded, checkpoint, last_good, report)
        else:
            # The order is already wrong from `structural` on; the root cannot agree either.
            report.bad(None, f"root mismatch at size {checkpoint.size} (follows from the above)")
    # A checkpoint that verifies after one that did not means the history was rewritten and then
    # signed again: the log forked.
    failed = [c.size for c in signed if c.size <= computed.size and c.size not in report.verified_sizes]
    if failed and report.verified_sizes and max(report.verified_sizes) > min(failed):
        newest = max(report.verified_sizes)
        report.bad(None, f"fork: checkpoint {min(failed)} disagrees with checkpoint {newest}")
    top = max((c.size for c in signed), default=0)
    report.uncovered = max(0, computed.size - top)
    return report


def _locate(
    computed: MerkleTree, recorded: MerkleTree, checkpoint: Checkpoint, last_good: int, report: Report
) -> None:
    size = checkpoint.size
    if recorded.root(size) == checkpoint.root:
        # The recorded leaf hashes are the signed ones, so any event that does not hash to its
        # recorded leaf is modified, and the first such event is the first bad one.
        for index in range(size):
            if computed.levels[0][index] != recorded.levels[0][index]:
                report.bad(index + 1, f"event {index + 1}: modified (does not hash to its signed leaf)")
                return
    report.bad(
        last_good + 1,
        f"root mismatch at size {size}: an event in {last_good + 1}..{size} was modified, inserted "
        "or replaced (leaf hashes rewritten too, so the first bad event is only bounded)",
    )


def _check_consistency(signed: list[Checkpoint], proof: dict[str, Any] | None, report: Report) -> None:
    if proof is None:
        return
    by_size = {c.size: c for c in signed}
    first, second = by_size.get(proof.get("first", -1)), by_size.get(proof.get("second", -1))
    if first is None or second is None:
        report.bad(None, "the consistency proof is not between two of the given checkpoints")
        return
    try:
        path = [bytes.fromhex(p) for p in proof["path"]]
        verify_consistency(first.size, second.size, first.root, second.root, path)
    except (ProofError, ValueError, KeyError) as exc:
        report.bad(None, f"fork: consistency proof {first.size} -> {second.size} fails ({exc})")


def load_verifiers(texts: Iterable[str]) -> list[Verifier]:
    """Verifier keys from strings, each a key or the contents of a file with one key per line."""
    keys = []
    for text in texts:
        for line in text.splitlines():
            if line.strip() and not line.startswith("#"):
                keys.append(Verifier.parse(line))
    return keys

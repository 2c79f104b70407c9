"""A detected span of text and how overlapping detections are resolved."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Span:
    """Characters [start, end) of a text are a value of `entity_type`, with a confidence score."""

    start: int
    end: int
    entity_type: str
    score: float


def resolve(spans: list[Span]) -> list[Span]:
    """Merge overlapping spans into disjoint ones, each taking the type of its strongest member.

    Overlaps are merged rather than dropped: every character that any detector flagged is removed.
    """
    if not spans:
        return []
    ordered = sorted(spans, key=lambda s: (s.start, -s.end))
    merged: list[Span] = []
    current = ordered[0]
    for span in ordered[1:]:
        if span.start < current.end:
            best = (
                current
                if (current.score, current.end - current.start)
                >= (
                    span.score,
                    span.end - span.start,
                )
                else span
            )
            current = Span(current.start, max(current.end, span.end), best.entity_type, best.score)
        else:
            merged.append(current)
            current = span
    merged.append(current)
    return merged

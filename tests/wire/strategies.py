"""Hypothesis strategies for scopes: parsed `Scope` values and scope strings."""

from __future__ import annotations

from discretion_wire import Scope
from hypothesis import strategies as st

segments = st.sampled_from(["calendar", "contacts", "email", "files", "read", "*"])
actions = st.sampled_from(["read", "write", "delete", "*"])
scopes = st.builds(
    lambda area, action: Scope(tuple(area), action), st.lists(segments, min_size=1, max_size=3), actions
)
# Any segment of the grammar, as text.
segment_strings = st.one_of(st.from_regex(r"[a-z0-9_-]{1,6}", fullmatch=True), st.just("*"))
scope_strings = st.builds(
    lambda area, action: f"{'.'.join(area)}:{action}",
    st.lists(segment_strings, min_size=1, max_size=4),
    segment_strings,
)

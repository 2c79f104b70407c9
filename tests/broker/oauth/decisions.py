"""Commit a change at the exact moment between a token request's decision and its write."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from broker.oauth import client_credentials


def change_after_first_decision(monkeypatch: pytest.MonkeyPatch, change: Callable[[], None]) -> None:
    """Run `change` (which commits in its own transaction) right after the first decision."""
    real = client_credentials.ClientCredentialsFlow.decide
    calls: list[int] = []

    def decide_then_change(self: Any, conn: Any, agent: Any, now: float) -> Any:
        plan = real(self, conn, agent, now)
        calls.append(1)
        if len(calls) == 1:
            change()  # commits in its own transaction while this request holds its decision
        return plan

    monkeypatch.setattr(client_credentials.ClientCredentialsFlow, "decide", decide_then_change)

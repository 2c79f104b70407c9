"""A broker whose issuer changed since its grant log began refuses to start, saying which settings
fix it, instead of reporting a checkpoint that fails verification (which reads like tampering)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from broker.api import create_app
from broker.services.origin import IssuerChanged
from broker.settings import Settings


def test_a_changed_issuer_is_named_as_a_setting_not_as_tampering(
    client: TestClient, settings: Settings
) -> None:
    # `client` started a broker on these settings: the log has a checkpoint for its issuer.
    assert client.get("/ready").status_code == 200
    moved = settings.model_copy(update={"issuer": "https://broker.example"})
    with pytest.raises(IssuerChanged) as refused, TestClient(create_app(moved)):
        pass
    message = str(refused.value)
    assert "not tampering" in message
    assert "DISCRETION_ISSUER" in message
    assert "DISCRETION_CHECKPOINT_ORIGIN=" in message
    # Keeping the log's origin under the new issuer starts.
    origin = message.split("DISCRETION_CHECKPOINT_ORIGIN=", 1)[1].split()[0]
    kept = moved.model_copy(update={"checkpoint_origin": origin})
    with TestClient(create_app(kept), base_url="https://broker.example") as other:
        assert other.get("/ready").status_code == 200

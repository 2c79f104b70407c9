"""/metrics of a real `discretion serve`: closed without a scrape token, and counting with one worker
as with several (a single worker once answered with an empty page)."""

from __future__ import annotations

import secrets

import httpx
import pytest

from examples.broker_process import BrokerProcess

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("workers", [1, 2])
def test_metrics_count_requests_with_any_number_of_workers(workers: int) -> None:
    token = secrets.token_urlsafe(24)
    with BrokerProcess(workers=workers, extra_env={"DISCRETION_METRICS_TOKEN": token}) as broker:
        for _ in range(4):
            assert httpx.get(f"{broker.url}/live").status_code == 200
        refused = httpx.post(f"{broker.url}/oauth2/token", data={"grant_type": "password"})
        assert refused.status_code == 400
        # Scrape until the worker that served the requests has shown them (any worker may answer).
        text = ""
        for _ in range(20):
            text = httpx.get(f"{broker.url}/metrics", headers={"Authorization": f"Bearer {token}"}).text
            if 'route="/oauth2/token",status="400"' in text:
                break
        assert 'discretion_http_requests_total{method="GET",route="/live",status="200"}' in text
        assert 'route="/oauth2/token",status="400"' in text


def test_metrics_are_closed_on_a_default_broker() -> None:
    with BrokerProcess() as broker:
        assert httpx.get(f"{broker.url}/live").status_code == 200
        answer = httpx.get(f"{broker.url}/metrics")
        assert answer.status_code == 404
        assert "discretion_" not in answer.text

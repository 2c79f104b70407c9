"""Metrics and structured logs."""

from __future__ import annotations

import json
import logging
import secrets
import threading

import anyio.to_thread
from fastapi.testclient import TestClient

from broker.api.app import create_app
from broker.observability import JsonFormatter
from broker.settings import Settings
from tests.conftest import ISSUER, World


def test_metrics_count_requests_and_decisions_by_reason(world: World, settings: Settings) -> None:
    token = secrets.token_urlsafe(24)
    world.grant()
    world.token(world.travel)
    world.token(world.ads)
    # Counters are per process: a second app with a scrape token reads the ones the first one moved.
    with TestClient(create_app(settings.model_copy(update={"metrics_token": token})), base_url=ISSUER) as c:
        text = c.get("/metrics", headers={"Authorization": f"Bearer {token}"}).text
    assert 'discretion_http_requests_total{method="POST",route="/oauth2/token",status="200"}' in text
    assert 'discretion_decisions_total{decision="deny",reason="no_grant",type="token.denied"}' in text
    assert "discretion_http_request_duration_seconds_bucket" in text


def test_json_log_lines_carry_no_traceback_locals() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("broker", logging.ERROR, __file__, 1, "failed %s", ("x",), None)
        import sys

        record.exc_info = sys.exc_info()
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "failed x"
    assert line["level"] == "error"
    assert line["exception"] == "ValueError"
    assert "Traceback" not in json.dumps(line)


def test_metrics_need_the_scrape_token_when_one_is_set(settings: Settings) -> None:
    token = secrets.token_urlsafe(24)
    configured = settings.model_copy(update={"metrics_token": token})
    with TestClient(create_app(configured), base_url=ISSUER) as client:
        missing = client.get("/metrics")
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == 'Bearer realm="metrics"'
        assert "discretion_" not in missing.text
        # One character off (token_urlsafe may itself end in "x": then "y").
        wrong = token[:-1] + ("y" if token.endswith("x") else "x")
        assert client.get("/metrics", headers={"Authorization": f"Bearer {wrong}"}).status_code == 401
        assert client.get("/metrics", headers={"Authorization": f"Basic {token}"}).status_code == 401
        scraped = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert scraped.status_code == 200
        assert "discretion_http_requests_total" in scraped.text
        assert client.get("/live").status_code == 200  # only /metrics is guarded


def test_metrics_are_off_without_a_scrape_token(world: World) -> None:
    """Closed by default: the counts move with single requests, so they must not be public."""
    world.grant()
    world.token(world.ads)
    answer = world.client.get("/metrics")
    assert answer.status_code == 404
    assert "discretion_" not in answer.text
    guessed = {"Authorization": "Bearer anything-at-all-here"}
    assert world.client.get("/metrics", headers=guessed).status_code == 404


def test_the_scrape_token_is_not_in_the_settings_repr(settings: Settings) -> None:
    token = secrets.token_urlsafe(24)
    assert token not in repr(settings.model_copy(update={"metrics_token": token}))


def test_live_answers_with_every_worker_thread_busy(client: TestClient) -> None:
    """Sync routes (the database's) run on a bounded thread pool; a liveness probe that queued
    behind them would get a busy but healthy process restarted by its orchestrator."""
    limiter = client.portal.call(anyio.to_thread.current_default_thread_limiter)  # type: ignore[union-attr]
    saved, borrower = limiter.total_tokens, object()
    limiter.total_tokens = 1
    client.portal.call(limiter.acquire_on_behalf_of, borrower)  # type: ignore[union-attr]
    answers: list[int] = []
    probe = threading.Thread(target=lambda: answers.append(client.get("/live").status_code))
    try:
        probe.start()
        probe.join(timeout=5)
        assert answers == [200]
    finally:
        client.portal.call(limiter.release_on_behalf_of, borrower)  # type: ignore[union-attr]
        limiter.total_tokens = saved
        probe.join()

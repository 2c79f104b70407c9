"""Metrics and structured logs."""

from __future__ import annotations

import json
import logging

from broker.observability import JsonFormatter
from tests.conftest import World


def test_metrics_count_requests_and_decisions_by_reason(world: World) -> None:
    world.grant()
    world.token(world.travel)
    world.token(world.ads)
    text = world.client.get("/metrics").text
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

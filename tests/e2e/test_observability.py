"""What an operator watches, on the real processes: both /metrics endpoints move, the
worker says it is consuming, and a message's log lines are JSON that share its ids."""

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Stack
from tests.e2e.otlp import Collector
from tests.e2e.test_pipeline import _send, _wait_all, api  # noqa: F401 - the fixture
from tests.support import wait_for

pytestmark = pytest.mark.e2e

_SAMPLE = re.compile(r"^(?P<name>[a-z_]+)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$")


def _scrape(url: str) -> dict[str, float]:
    """Every sample as `name{labels}` -> value (labels as written, sorted by the client)."""
    text = httpx.get(url, timeout=10).text
    samples: dict[str, float] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match:
            key = match["name"] + (f"{{{match['labels']}}}" if match["labels"] else "")
            samples[key] = float(match["value"])
    return samples


def _total(samples: dict[str, float], name: str, **labels: str) -> float:
    wanted = [f'{k}="{v}"' for k, v in labels.items()]
    return sum(
        value
        for key, value in samples.items()
        if key.split("{")[0] == name and all(w in key for w in wanted)
    )


def test_both_metrics_endpoints_count_a_message_through_its_life(
    stack: Stack,
    api: httpx.Client,  # noqa: F811 - the fixture
) -> None:
    api_metrics, worker_metrics = f"{stack.api_url}/metrics", f"{stack.worker_metrics_url}/metrics"
    before_api, before_worker = _scrape(api_metrics), _scrape(worker_metrics)
    ids = [_send(api) for _ in range(3)]
    _wait_all(api, ids, "read")

    def grew(before: dict[str, float], after: dict[str, float], name: str, **labels: str) -> float:
        return _total(after, name, **labels) - _total(before, name, **labels)

    def moved() -> tuple[dict[str, float], dict[str, float]] | None:
        # Each process writes its counts once a second: poll until both sides show them.
        after_api, after_worker = _scrape(api_metrics), _scrape(worker_metrics)
        reads = grew(before_worker, after_worker, "wapipe_status_changes_total", status="read")
        accepted = grew(before_api, after_api, "wapipe_messages_accepted_total")
        return (after_api, after_worker) if reads >= 3 and accepted >= 3 else None

    after_api, after_worker = wait_for(moved, timeout=15, interval=0.3, what="the counts")
    assert grew(before_api, after_api, "wapipe_messages_accepted_total") >= 3
    route = 'route="/v1/messages"'
    posts = [k for k in after_api if k.startswith("wapipe_http_requests_total") and route in k]
    assert any('code="202"' in k and 'method="POST"' in k for k in posts)
    assert grew(before_api, after_api, "wapipe_http_request_seconds_count") >= 3
    assert (
        grew(before_worker, after_worker, "wapipe_provider_requests_total", outcome="accepted") >= 3
    )
    assert grew(before_worker, after_worker, "wapipe_provider_request_seconds_count") >= 3
    assert grew(before_worker, after_worker, "wapipe_status_changes_total", status="sent") >= 3
    for status in ("sent", "delivered", "read"):
        assert (
            grew(before_worker, after_worker, "wapipe_time_to_status_seconds_count", status=status)
            >= 3
        )
    # The pipeline's state, read when the API is scraped.
    for gauge in ("wapipe_oldest_sending_seconds", "wapipe_webhook_backlog",
                  "wapipe_channels_paused", "wapipe_dead_letters"):  # fmt: skip
        assert gauge in after_api
    assert 'wapipe_queue_depth{queue="deliveries",state="ready"}' in after_api
    assert not any("+1" in key or "wamid" in key for key in after_api)  # no unbounded labels


def test_the_worker_health_says_it_is_consuming(stack: Stack) -> None:
    response = httpx.get(f"{stack.worker_metrics_url}/healthz", timeout=5)
    assert response.status_code == 200
    assert response.json()["consuming"] is True


def _json_lines(path: Path) -> list[dict[str, Any]]:
    lines = []
    for raw in path.read_text(errors="replace").splitlines():
        if raw.startswith("{"):
            lines.append(json.loads(raw))
    return lines


def test_a_messages_log_lines_are_json_and_share_its_request_id(
    stack: Stack,
    api: httpx.Client,  # noqa: F811 - the fixture
) -> None:
    assert stack.logs is not None
    logs_dir = stack.logs
    response = api.post(
        "/v1/messages",
        json={"to": "+16505550123", "text": "logs"},
        headers={"X-Request-Id": "req-obs-1"},
    )
    assert response.status_code == 202
    assert response.headers["X-Request-Id"] == "req-obs-1"
    message_id = response.json()["id"]
    _wait_all(api, [message_id], "read")

    def lines_of(log: str) -> list[dict[str, Any]] | None:
        found = [
            line for line in _json_lines(logs_dir / log) if line.get("message_id") == message_id
        ]
        return found or None

    intake = wait_for(lambda: lines_of("api.log"), timeout=10, what="the intake's line")
    [accepted] = [line for line in intake if line["event"] == "message accepted"]
    assert accepted["request_id"] == "req-obs-1"
    assert accepted["level"] == "info"
    # The contact, conversation, message and history are one statement: timed as `write`.
    assert {"write_ms", "enqueue_ms", "total_ms"} <= set(accepted)
    assert accepted["created_contact"] is True
    assert "text" not in accepted  # the message's text is never logged

    def worker_lines() -> list[dict[str, Any]] | None:
        found = lines_of("worker.log") or []
        events = {line["event"] for line in found}
        return found if {"message sent", "status applied"} <= events else None

    lines = wait_for(worker_lines, timeout=15, what="the worker's send and status lines")
    [sent] = [line for line in lines if line["event"] == "message sent"]
    assert sent["request_id"] == "req-obs-1"  # carried with the job
    assert sent["worker"]
    statuses = {line["status"] for line in lines if line["event"] == "status applied"}
    assert {"delivered", "read"} <= statuses


def test_one_trace_runs_from_the_intake_through_the_send_and_the_statuses(
    traces: Collector,
    api: httpx.Client,  # noqa: F811 - the fixture
) -> None:
    [message_id] = [_send(api)]
    _wait_all(api, [message_id], "read")

    def traced() -> list[Any] | None:
        spans = traces.snapshot()
        intakes = [s for s in spans if s.name == "intake" and s.service == "wapipe-api"]
        for intake in intakes:
            mine = [s for s in spans if s.trace_id == intake.trace_id]
            names = {s.name for s in mine}
            if {"delivery", "delivery.claim", "provider.send", "delivery.record"} <= names:
                return mine
        return None

    spans = wait_for(traced, timeout=15, interval=0.3, what="the message's trace")
    by_name = {s.name: s for s in spans}
    assert by_name["delivery"].service == "wapipe-worker"
    assert by_name["delivery"].parent_id == by_name["intake"].span_id  # carried by the job
    assert by_name["provider.send"].parent_id == by_name["delivery"].span_id
    applied = [s for s in traces.snapshot() if s.name == "webhooks.apply"]
    assert applied  # the statuses' application is traced (its own traces: webhooks)
    assert all(s.service == "wapipe-worker" for s in applied)

"""The whole pipeline as real processes: gunicorn, dramatiq and the fake provider."""

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from pipeline.config import Settings
from tests.conftest import APP_SECRET, VERIFY_TOKEN
from tests.e2e.otlp import Collector
from tests.e2e.processes import WAPIPE, Process, running, stack_env, wait_http_ok
from tests.support import free_port


@dataclass(frozen=True)
class Stack:
    api_url: str
    fake_url: str
    # The processes' environment, so a test can run `wapipe` commands against the same stack.
    env: dict[str, str] = field(default_factory=dict, repr=False)
    # Where every process writes its stdout and stderr (a test searches them for secrets).
    logs: Path | None = field(default=None, repr=False)
    # The worker group's /metrics and /healthz.
    worker_metrics_url: str = ""
    # Where the processes export their traces.
    traces: Collector | None = field(default=None, repr=False)


# Stopped when the e2e tests are done: its workers' webhook appliers read the shared test
# database's inbox (webhooks are not queue jobs), and would apply other tests' webhooks.
@pytest.fixture(scope="package")
def stack(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory, traces: Collector
) -> Iterator[Stack]:
    logs: Path = tmp_path_factory.mktemp("e2e-logs")
    api_port, fake_port, metrics_port = free_port(), free_port(), free_port()
    api_url, fake_url = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{fake_port}"
    env = stack_env(
        {
            "DATABASE_URL": settings.database_url,
            "REDIS_URL": settings.redis_url,
            "WHATSAPP_API_BASE_URL": f"{fake_url}/v21.0",
            "WHATSAPP_APP_SECRET": APP_SECRET,
            "WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
            # Its own queues: the in-process test worker must not take these jobs.
            "WAPIPE_QUEUE_NAMESPACE": f"wapipe-e2e-{uuid.uuid4().hex[:8]}",
            "WAPIPE_RETRY_MIN_BACKOFF_MS": "200",
            "WAPIPE_RETRY_MAX_BACKOFF_MS": "1000",
            "WAPIPE_MAX_ATTEMPTS": "4",
            "WAPIPE_METRICS_PORT": str(metrics_port),
            "WAPIPE_LOG_FORMAT": "json",
            "OTEL_EXPORTER_OTLP_ENDPOINT": traces.url,
            "OTEL_BSP_SCHEDULE_DELAY": "200",  # export within a moment, not every 5 s
        }
    )
    fake = Process(
        "fake-provider",
        [*WAPIPE, "fake-provider", "--port", str(fake_port), "--status-delay-ms", "50",
         "--webhook-url", f"{api_url}/webhooks/whatsapp"],
        env,
        logs / "fake.log",
    )  # fmt: skip
    api = Process(
        "api",
        [*WAPIPE, "api", "--port", str(api_port), "--workers", "2", "--threads", "4"],
        env,
        logs / "api.log",
    )
    worker = Process(
        "worker",
        [*WAPIPE, "worker", "--processes", "1", "--threads", "4"],
        env,
        logs / "worker.log",
    )
    with running(fake, api, worker):
        wait_http_ok(f"{fake_url}/_fake/healthz", fake)
        wait_http_ok(f"{api_url}/readyz", api)
        yield Stack(api_url, fake_url, env, logs, f"http://127.0.0.1:{metrics_port}", traces)


@pytest.fixture(scope="package")
def traces() -> Iterator[Collector]:
    with Collector() as collector:
        yield collector


@pytest.fixture
def fake_admin(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.fake_url, timeout=5) as http:
        yield http
        http.delete("/_fake/rules")

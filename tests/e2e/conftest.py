"""The whole pipeline as real processes: gunicorn, dramatiq and the fake provider."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pipeline.config import Settings
from tests.e2e.otlp import Collector
from tests.e2e.processes import Stack, pipeline_stack

__all__ = ["Stack"]  # the tests' type of the `stack` fixture


# Stopped when the e2e tests are done: its workers' webhook appliers read the shared test
# database's inbox (webhooks are not queue jobs), and would apply other tests' webhooks.
@pytest.fixture(scope="package")
def stack(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory, traces: Collector
) -> Iterator[Stack]:
    logs: Path = tmp_path_factory.mktemp("e2e-logs")
    with pipeline_stack(
        settings,
        logs,
        OTEL_EXPORTER_OTLP_ENDPOINT=traces.url,
        OTEL_BSP_SCHEDULE_DELAY="200",  # export within a moment, not every 5 s
    ) as running_stack:
        yield running_stack


@pytest.fixture(scope="package")
def traces() -> Iterator[Collector]:
    with Collector() as collector:
        yield collector


@pytest.fixture
def fake_admin(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.fake_url, timeout=5) as http:
        yield http
        http.delete("/_fake/rules")

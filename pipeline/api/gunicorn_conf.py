"""gunicorn settings loaded by `wapipe api` (`--config python:pipeline.api.gunicorn_conf`)."""

from typing import Any

from pipeline.observability.metrics import mark_process_dead


def child_exit(server: Any, worker: Any) -> None:
    """A worker that exits leaves its counters summed in /metrics, not its live gauges."""
    mark_process_dead(worker.pid)

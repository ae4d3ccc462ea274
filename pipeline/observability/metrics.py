"""Prometheus metrics. Names are a contract for dashboards and alerts: add, don't rename.

Counters and histograms are kept by the process that counts. A process group (gunicorn's
workers, a `wapipe worker`'s Dramatiq processes) shares them through prometheus_client's
multiprocess mode: `wapipe api` and `wapipe worker` point PROMETHEUS_MULTIPROC_DIR at a
fresh directory before starting their children, and whichever process answers a scrape
sums every process's files. The pipeline's state (queue depths, the oldest message owed a
send, the webhook backlog, paused channels, dead letters) is read from PostgreSQL and Redis
when the API is scraped, not counted anywhere. Labels never carry a phone, a message id or
anything else unbounded.
"""

import bisect
import os
import shutil
import tempfile
import threading
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.registry import Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST

_FAST = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Accepted to sent is seconds; to read can be hours (a phone off for the night).
_LIFECYCLE = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600)

HTTP_REQUESTS = Counter(
    "wapipe_http_requests_total", "HTTP requests answered.", ["route", "method", "code"]
)
HTTP_SECONDS = Histogram(
    "wapipe_http_request_seconds", "Time to answer an HTTP request.", ["route"], buckets=_FAST
)
MESSAGES_ACCEPTED = Counter("wapipe_messages_accepted_total", "Messages the intake accepted.")
STATUS_CHANGES = Counter(
    "wapipe_status_changes_total",
    "Applied status changes of outbound messages.",
    ["status", "source"],
)
PROVIDER_REQUESTS = Counter(
    "wapipe_provider_requests_total",
    "Sends to the WhatsApp Cloud API by outcome and error code ('' when accepted).",
    ["outcome", "code"],
)
PROVIDER_SECONDS = Histogram(
    "wapipe_provider_request_seconds", "Time of one send to the provider.", buckets=_FAST
)
TIME_TO_STATUS = Histogram(
    "wapipe_time_to_status_seconds",
    "From acceptance to sent, delivered and read.",
    ["status"],
    buckets=_LIFECYCLE,
)
AMBIGUOUS_RESENDS = Counter(
    "wapipe_ambiguous_resends_total",
    "Resends forced after a send of unknown outcome (the provider may have it twice).",
)


class _Pending:
    """Counts and observations added in memory and written to the metric files once a
    second by one thread per process.

    In multiprocess mode each count is a locked write to a memory-mapped file (about 3 µs,
    a histogram's observation two of them): per request and per status that was a few
    percent of the API's CPU. Here a count is a dict update under a lock, and the writes
    happen once per second per labelled series. A scrape sees what was counted up to a
    second before it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[Any, ...], float] = defaultdict(float)
        # Per histogram series: [sum, count in bucket 0, count in bucket 1, ...].
        self._observed: dict[tuple[Any, ...], list[float]] = {}
        self._flushing = False
        os.register_at_fork(after_in_child=self._forked)

    def _forked(self) -> None:
        self._flushing = False
        self._lock = threading.Lock()

    def count(self, metric: Counter, labels: tuple[str, ...], amount: float = 1.0) -> None:
        with self._lock:
            self._counts[(metric, *labels)] += amount
        self._ensure_flusher()

    def observe(self, metric: Histogram, labels: tuple[str, ...], value: float) -> None:
        bucket = bisect.bisect_left(metric._upper_bounds, value)
        key = (metric, *labels)
        with self._lock:
            series = self._observed.get(key)
            if series is None:
                series = self._observed[key] = [0.0] * (len(metric._upper_bounds) + 1)
            series[0] += value
            series[bucket + 1] += 1
        self._ensure_flusher()

    def flush(self) -> None:
        with self._lock:
            counts, self._counts = self._counts, defaultdict(float)
            observed, self._observed = self._observed, {}
        for (metric, *labels), amount in counts.items():
            (metric.labels(*labels) if labels else metric).inc(amount)
        for (metric, *labels), series in observed.items():
            target = metric.labels(*labels) if labels else metric
            target._sum.inc(series[0])
            for bucket, n in enumerate(series[1:]):
                if n:
                    target._buckets[bucket].inc(n)

    def _ensure_flusher(self) -> None:
        if not self._flushing:  # first use in this process (a fork starts without one)
            self._flushing = True
            threading.Thread(target=self._flush_forever, name="metrics", daemon=True).start()

    def _flush_forever(self) -> None:
        while True:
            time.sleep(FLUSH_EVERY_S)
            self.flush()


FLUSH_EVERY_S = 1.0
_pending = _Pending()


def count(metric: Counter, *labels: str, amount: float = 1.0) -> None:
    """``metric.labels(*labels).inc(amount)``, written within a second."""
    _pending.count(metric, labels, amount)


def observe(metric: Histogram, value: float, *labels: str) -> None:
    """``metric.labels(*labels).observe(value)``, written within a second."""
    _pending.observe(metric, labels, value)


# The statuses whose time since acceptance is measured.
_TIMED = frozenset({"sent", "delivered", "read"})


def status_changed(status: str, source: str, queued_at: datetime | None = None) -> None:
    """Count an applied status change, and time it from acceptance when it is a milestone."""
    count(STATUS_CHANGES, str(status), str(source))
    if queued_at is not None and status in _TIMED:
        elapsed = time.time() - queued_at.timestamp()
        observe(TIME_TO_STATUS, max(elapsed, 0.0), str(status))


def fresh_multiproc_dir(role: str) -> str:
    """A new, empty directory for one process group's metric files (a restarted group must
    not add its predecessor's counts)."""
    path = Path(tempfile.gettempdir()) / f"wapipe-metrics-{role}-{os.getpid()}"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return str(path)


def mark_process_dead(pid: int) -> None:
    """gunicorn's child_exit: drop a dead worker's live gauges (its counters stay summed)."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def exposition(*extra: Collector) -> bytes:
    """The text a scrape gets: this process group's metrics, plus ``extra`` collectors."""
    _pending.flush()  # this process's latest; the others' are at most a second old
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        output = generate_latest(registry)
    else:
        output = generate_latest(REGISTRY)
    if extra:
        registry = CollectorRegistry(auto_describe=False)
        for collector in extra:
            registry.register(collector)
        output += generate_latest(registry)
    return output

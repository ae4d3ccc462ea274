"""The events variant (issue 10): wapipe's lifecycle with one endpoint subscribed to everything.

The same lifecycle as the plain wapipe run, on a fresh stack, with a webhook endpoint for
every event type pointing at a receiver on loopback (a threaded HTTP server in this process
answering 204 at once, as a receiver that only queues the event would). Each message then
costs three `message.status` events: their outbox rows on the hot paths, and three signed
POSTs from the workers' dispatchers. The goal: at least three quarters of the speed without.
"""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from bench.lifecycle import Lifecycle
from bench.probes import BenchError, RowCounter
from bench.stacks import Stack


class _Counting(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the dispatcher's client expects
    server: "_Receiver"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(204)
        self.end_headers()
        with self.server.lock:
            if self.headers["webhook-id"] not in self.server.ids:
                self.server.ids.add(self.headers["webhook-id"])
                self.server.last_new_at = time.monotonic()
            self.server.posts += 1

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Receiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Counting)
        self.lock = threading.Lock()
        self.ids: set[str] = set()
        self.posts = 0
        self.last_new_at = 0.0  # monotonic time of the latest event not seen before

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/events"


@contextmanager
def receiver() -> Iterator[_Receiver]:
    server = _Receiver()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()


def subscribe(stack: Stack, url: str) -> None:
    """One endpoint of the bench company, for every event type."""
    answer = httpx.post(
        f"{stack.target.url}/v1/webhook-endpoints",
        json={"url": url, "description": "bench"},
        headers={"Authorization": stack.target.auth},
        timeout=10,
    )
    if answer.status_code != 201:
        raise BenchError(f"could not register the bench endpoint: {answer.status_code}")


@dataclass(frozen=True)
class EventsFigures:
    without: Lifecycle
    with_events: Lifecycle
    events: int  # distinct events the receiver got
    posts: int  # POSTs it answered (a retried event counts again)
    drained_s: float  # the lifecycle's start to the last new event received

    @property
    def ratio(self) -> float:
        return self.with_events.rate / self.without.rate

    def to_dict(self) -> dict[str, Any]:
        return {
            "without": {"rate": round(self.without.rate, 1)},
            "with_events": self.with_events.to_dict(),
            "ratio": round(self.ratio, 3),
            "events": self.events,
            "posts": self.posts,
            "drained_s": round(self.drained_s, 1),
        }


def written(dsn: str) -> int:
    """How many events the outbox holds (the bench company's: the database is its own)."""
    counter = RowCounter(dsn, "SELECT count(*) FROM events")
    try:
        return counter()
    finally:
        counter.close()


def wait_drained(server: _Receiver, expected: int, stall_s: float) -> int:
    """Wait until ``expected`` events arrived or none came for ``stall_s``; how many came."""
    last, changed = -1, time.monotonic()
    while True:
        with server.lock:
            count = len(server.ids)
        if count >= expected:
            return count
        if count != last:
            last, changed = count, time.monotonic()
        elif time.monotonic() - changed > stall_s:
            return count
        time.sleep(0.2)

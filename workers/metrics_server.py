"""The worker group's HTTP port: /metrics (every process of the group, summed) and /healthz.

Every Dramatiq process of a `wapipe worker` tries to bind the port; the first one serves it
for the group (they share their metric files), the others log that it is taken and go on,
as does a second `wapipe worker` on the same host. A port that cannot be bound never stops
a worker. 0 turns the port off.
"""

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import dramatiq

from pipeline.observability.metrics import CONTENT_TYPE, exposition

log = logging.getLogger("wapipe.metrics")


def consuming(worker: dramatiq.Worker) -> bool:
    """Whether this process's Dramatiq worker still has live consumers and worker threads."""
    consumers = list(worker.consumers.values())
    workers = list(worker.workers)
    return (
        bool(consumers)
        and all(c.is_alive() and not c.paused for c in consumers)
        and any(w.is_alive() for w in workers)
    )


def _handler(health: Callable[[], dict[str, Any]]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                self._answer(200, CONTENT_TYPE, exposition())
            elif self.path == "/healthz":
                state = health()
                code = 200 if state.get("consuming") else 503
                self._answer(code, "application/json", json.dumps(state).encode())
            else:
                self._answer(404, "text/plain", b"not found\n")

        def _answer(self, code: int, content_type: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # a scrape every few seconds is not news

    return Handler


class MetricsServerMiddleware(dramatiq.Middleware):
    def __init__(self, host: str, port: int, node: Callable[[], dict[str, Any]]) -> None:
        self._host = host
        self._port = port
        self._node = node
        self._server: ThreadingHTTPServer | None = None

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        if not self._port:
            return

        def health() -> dict[str, Any]:
            return {"consuming": consuming(worker)} | self._node()

        try:
            self._server = ThreadingHTTPServer((self._host, self._port), _handler(health))
        except OSError as error:
            log.info(
                "metrics port %s:%s not bound here (%s): another process of this host serves "
                "it, or it is taken",
                self._host,
                self._port,
                error.strerror,
            )
            return
        self._server.daemon_threads = True
        thread = threading.Thread(target=self._server.serve_forever, name="metrics", daemon=True)
        thread.start()
        log.info("metrics and health on %s:%s", self._host, self._port)

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

"""A threaded HTTP/1.1 WSGI server that keeps connections alive: the one the fake runs on.

werkzeug's development server closes every connection after its answer (it cannot tell where
a request's unread body ends and the next request begins), so each send to the fake paid a
TCP handshake and a new server thread, which Meta's Graph API does not make its clients pay.
Here each request's whole body (Content-Length) is read before the app runs and every answer
carries a Content-Length, so the connection is ready for the next request as soon as the
answer is written. The fake's bodies are small JSON documents and test media: buffering
them costs nothing worth streaming for.
"""

from __future__ import annotations

import contextlib
import io
import logging
import socket
import socketserver
import sys
import threading
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote, urlsplit

log = logging.getLogger("fakeprovider.http")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
# An idle keep-alive connection is closed after this (urllib3 notices and opens a new one).
IDLE_TIMEOUT_S = 30.0
# Headers the server owns: the app's are dropped (RFC 9110 § 7.6.1, hop-by-hop).
_OURS = frozenset({"connection", "content-length", "keep-alive", "transfer-encoding"})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT_S
    # Status line, headers and body leave in one write, flushed after each answer: written
    # apart, Nagle's algorithm held the body back until the client's delayed ACK (40 ms).
    wbufsize = -1
    disable_nagle_algorithm = True
    server: KeepAliveWSGIServer

    def handle(self) -> None:
        # The client went away, or stayed idle past the timeout: nothing to answer.
        with contextlib.suppress(ConnectionError, TimeoutError):
            super().handle()

    def __getattr__(self, name: str) -> Any:
        # BaseHTTPRequestHandler dispatches to do_<METHOD>: the app answers every method.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def _serve(self) -> None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.send_error(411, "send a Content-Length")  # and close: the body is unread
            return
        try:
            size = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            size = -1
        if size < 0:
            self.send_error(400, "bad Content-Length")
            return
        body = self.rfile.read(size)
        if len(body) < size:
            self.close_connection = True  # the client hung up mid-body
            return
        status, headers, content = self._run_app(body)
        code, _, reason = status.partition(" ")
        self.send_response(int(code), reason)
        for name, value in headers:
            if name.lower() not in _OURS:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(content)

    def _run_app(self, body: bytes) -> tuple[str, list[tuple[str, str]], bytes]:
        answer: list[Any] = []
        chunks: list[bytes] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            answer[:] = [status, headers]
            return chunks.append

        try:
            result = self.server.app(self._environ(body), start_response)
            try:
                chunks.extend(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        except Exception:
            log.exception("the fake's app failed on %s %s", self.command, self.path)
            self.close_connection = True
            return "500 Internal Server Error", [("Content-Type", "text/plain")], b"error"
        return answer[0], answer[1], b"".join(chunks)

    def _environ(self, body: bytes) -> dict[str, Any]:
        target = urlsplit(self.path)
        host, port = self.server.server_address[:2]
        environ: dict[str, Any] = {
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote(target.path or "/", encoding="latin-1"),
            "QUERY_STRING": target.query,
            "SERVER_NAME": str(host),
            "SERVER_PORT": str(port),
            "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": self.client_address[0],
            "REMOTE_PORT": self.client_address[1],
            "CONTENT_LENGTH": str(len(body)),
        }
        for name, value in self.headers.items():
            if "_" in name:
                continue  # X_Foo would pose as X-Foo (as werkzeug and gunicorn drop them)
            key = name.upper().replace("-", "_")
            if key == "CONTENT_TYPE":
                environ[key] = value
            elif key != "CONTENT_LENGTH":
                key = f"HTTP_{key}"
                environ[key] = f"{environ[key]},{value}" if key in environ else value
        return environ

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Per-request access logs would slow benchmarks; errors are still logged."""

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s: " + format, self.address_string(), *args)


class KeepAliveWSGIServer(socketserver.ThreadingTCPServer):
    """Serves ``app``, a thread per connection, until `shutdown`; `close` also ends every
    open connection, so a stopped fake answers no one (not even a kept-alive client)."""

    daemon_threads = True
    # A hung request (the fake's timeout_rate) must not make closing wait for its thread.
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, host: str, port: int, app: WSGIApp) -> None:
        self.app = app
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        super().__init__((host, port), _Handler)

    @property
    def server_port(self) -> int:
        return int(self.server_address[1])

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with self._lock:
            self._open.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._lock:
                self._open.discard(request)

    def close(self) -> None:
        self.server_close()
        with self._lock:
            still_open = list(self._open)
        for connection in still_open:
            with contextlib.suppress(OSError):  # closed meanwhile
                connection.shutdown(socket.SHUT_RDWR)

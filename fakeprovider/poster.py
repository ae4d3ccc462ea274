"""Webhook POSTs over one keep-alive connection per sender thread, with the standard library.

The fake posts three webhooks per message, and benchmarks run it on the machine of the
pipeline it measures: with httpx each POST cost it about 0.6-0.9 ms of CPU, with http.client
about a quarter of that, CPU the pipeline under test gets back.
"""

from __future__ import annotations

import http.client
import ssl
from collections.abc import Callable
from urllib.parse import SplitResult, urlsplit

# What a POST on a reused connection raises when the receiver closed it while idle (gunicorn
# drops keep-alive connections after 2 s): the request never reached the app, so one retry on
# a new connection is safe, and needed so that an idle gap is not reported as a failure.
_STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


class WebhookPoster:
    """Not thread-safe: each sender thread owns one."""

    def __init__(self, timeout: float, ssl_context: Callable[[], ssl.SSLContext]) -> None:
        self._timeout = timeout
        self._ssl_context = ssl_context
        self._conn: http.client.HTTPConnection | None = None
        self._origin: tuple[str, str] = ("", "")

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """The receiver's HTTP status; raises OSError, ValueError or http.client.HTTPException."""
        parts = urlsplit(url)
        reused = self._conn is not None and self._origin == (parts.scheme, parts.netloc)
        try:
            return self._post(parts, body, headers)
        except _STALE:
            if not reused:
                raise
            return self._post(parts, body, headers)

    def _post(self, parts: SplitResult, body: bytes, headers: dict[str, str]) -> int:
        conn = self._connection(parts)
        path = parts.path or "/"
        if parts.query:
            path = f"{path}?{parts.query}"
        try:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()  # the connection is reusable only once the body is consumed
        except BaseException:
            self.close()
            raise
        if response.will_close:
            self.close()
        return response.status

    def _connection(self, parts: SplitResult) -> http.client.HTTPConnection:
        origin = (parts.scheme, parts.netloc)
        if self._conn is not None and origin == self._origin:
            return self._conn
        self.close()
        if parts.scheme == "https":
            self._conn = http.client.HTTPSConnection(
                parts.netloc, timeout=self._timeout, context=self._ssl_context()
            )
        elif parts.scheme == "http":
            self._conn = http.client.HTTPConnection(parts.netloc, timeout=self._timeout)
        else:
            raise ValueError(f"webhook URL must be http or https, not {parts.scheme!r}")
        self._origin = origin
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None

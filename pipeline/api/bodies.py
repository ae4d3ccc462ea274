"""The outermost WSGI layer: every request body is bounded and read to its end, or refused.

gunicorn reuses a kept-alive connection only after draining what the application left unread
of a body, and gives up after 64 KiB: it then closes a connection it has just announced as
`Connection: keep-alive`, and a pooling client's next request on it fails. So a body within
the limit is read whole before any view runs (a 401 for a large POST leaves nothing behind),
and a body over the limit is not read at all: the 413 says `Connection: close` (which the
worker of pipeline.api.server makes gunicorn honour). Below this layer every request has a
`CONTENT_LENGTH` and a body in memory, chunked or not.
"""

import io
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast

from pipeline.api.errors import error_document

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class BodyLimit:
    """Reads each request body (at most ``max_body`` bytes) before ``app`` sees the request."""

    def __init__(
        self, app: WSGIApp, max_body: int, larger: Mapping[str, int] | None = None
    ) -> None:
        self._app = app
        self._max_body = max_body
        # Paths that take larger bodies (a media upload), each with its own limit.
        self._larger = dict(larger or {})

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        limit = self._larger.get(environ.get("PATH_INFO", ""), self._max_body)
        body = self._read(environ, limit)
        if body is None:
            return self._too_large(start_response, limit)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)  # the body below is no longer chunked
        return self._app(environ, start_response)

    def _read(self, environ: dict[str, Any], limit: int) -> bytes | None:
        """The whole body, or None when it is over the limit (then it is left unread)."""
        stream = environ["wsgi.input"]
        length = _declared_length(environ)
        if length is None:
            if "chunked" not in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
                return b""  # no body (reading would wait for bytes that never come)
            data: bytes = stream.read(limit + 1)  # one byte over tells "too large"
            return data if len(data) <= limit else None
        if length > limit:
            return None
        return cast(bytes, stream.read(length))

    def _too_large(self, start_response: StartResponse, limit: int) -> list[bytes]:
        message = f"the body is larger than {limit} bytes"
        body = json.dumps(error_document("PAYLOAD_TOO_LARGE", message)).encode()
        start_response(
            "413 Request Entity Too Large",
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                ("Connection", "close"),  # the body is still on the wire
            ],
        )
        return [body]


def _declared_length(environ: dict[str, Any]) -> int | None:
    # gunicorn refuses a malformed Content-Length itself; another server may pass it on.
    try:
        return max(int(environ.get("CONTENT_LENGTH") or ""), 0)
    except ValueError:
        return None

"""gunicorn's worker for `wapipe api`: our error shape for what it refuses, and closing on ask.

gunicorn refuses some requests before the application sees them: a malformed request line or
header, a request line or header block over its limits, broken chunked framing. Its answers
are HTML, with nothing a client can branch on, and an unknown transfer coding is a 501 (no
input may get a 5xx from us). This worker answers those with the API's JSON error document and
a stable code; anything else (an error of ours) is left to gunicorn.

gunicorn also drops the `Connection` header an application sends (hop-by-hop), so an answer
that leaves a body unread (pipeline.api.bodies) could not close the connection it cannot
reuse. This worker closes it when the application says `Connection: close`, whatever
middleware sits between (they all pass the headers on).
"""

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from gunicorn import util
from gunicorn.http import errors
from gunicorn.workers.gthread import ThreadWorker

from pipeline.api.errors import error_document

log = logging.getLogger("wapipe.api")
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# (status line, code, message) per exception gunicorn raises while parsing a request. The most
# specific class comes first: InvalidResponseHeader is an InvalidHeader of *our* answer.
_REFUSALS: list[tuple[type[Exception], tuple[str, str, str] | None]] = [
    (errors.InvalidResponseHeader, None),
    (errors.InvalidResponseHeaderName, None),
    (errors.ConfigurationProblem, None),
    (errors.LimitRequestLine, ("414 URI Too Long", "URI_TOO_LONG", "the request line is too long")),
    (
        errors.LimitRequestHeaders,
        ("431 Request Header Fields Too Large", "HEADERS_TOO_LARGE", "the headers are too large"),
    ),
    (
        errors.ExpectationFailed,
        ("417 Expectation Failed", "EXPECTATION_FAILED", "only `Expect: 100-continue` is known"),
    ),
    (
        errors.UnsupportedTransferCoding,
        ("400 Bad Request", "MALFORMED_REQUEST", "send the body plain or chunked"),
    ),
    (errors.ParseException, ("400 Bad Request", "MALFORMED_REQUEST", "not a valid HTTP request")),
]


class JsonErrorsThreadWorker(ThreadWorker):  # type: ignore[misc]  # gunicorn has no types
    """gunicorn's gthread worker; its refusals are JSON documents, and it closes on ask."""

    def load_wsgi(self) -> None:
        super().load_wsgi()
        self.wsgi: WSGIApp = honour_connection_close(self.wsgi)

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        refusal = refusal_for(exc)
        if refusal is None:
            super().handle_error(req, client, addr, exc)
            return
        status, code, message = refusal
        # The exception's text may quote the request's bytes: its class is enough to log.
        log.warning("refused a malformed request: %s (%s)", type(exc).__name__, code)
        try:
            util.write_nonblock(client, http_answer(status, code, message))
        except OSError:
            log.debug("the client left before the refusal was sent")


def refusal_for(exc: BaseException) -> tuple[str, str, str] | None:
    """How to answer a request gunicorn could not parse; None for errors that are not its."""
    for kind, refusal in _REFUSALS:
        if isinstance(exc, kind):
            return refusal
    return None


def http_answer(status: str, code: str, message: str) -> bytes:
    """A whole HTTP/1.1 answer that closes the connection: the request's framing is unknown."""
    body = json.dumps(error_document(code, message)).encode()
    head = (
        f"HTTP/1.1 {status}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


def honour_connection_close(app: WSGIApp) -> WSGIApp:
    """``app``, whose `Connection: close` makes gunicorn announce it and close."""

    def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            if any(name.lower() == "connection" and value.strip().lower() == "close"
                   for name, value in headers):  # fmt: skip
                # Here, outermost, start_response is a method of gunicorn's response.
                getattr(start_response, "__self__").force_close()  # noqa: B009
            return start_response(status, headers, *exc_info)

        return app(environ, start)

    return serve

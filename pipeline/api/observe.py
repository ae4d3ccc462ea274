"""The outermost WSGI layer: a request id for every request, and its metrics.

Outside Flask so that it sees the webhook receiver (plain WSGI in front of Flask) too. The
route label is the URL rule's template, which the app puts in the environ (`wapipe.route`);
a request that matched no route is `unmatched`, so a scanner cannot mint label values.
"""

import contextvars
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, Response, request

from pipeline.observability import logs
from pipeline.observability.metrics import (
    CONTENT_TYPE,
    HTTP_REQUESTS,
    HTTP_SECONDS,
    count,
    exposition,
    observe,
)
from pipeline.observability.pipeline_state import PipelineState

ROUTE_KEY = "wapipe.route"
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class ObservedApp:
    def __init__(self, app: WSGIApp) -> None:
        self._app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        # A fresh context per request: the ids bound while answering it (request, company)
        # cannot leak into the next request a gunicorn thread answers.
        return contextvars.Context().run(self._answer, environ, start_response)

    def _answer(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        started = time.perf_counter()
        request_id = logs.request_id_from(environ.get("HTTP_X_REQUEST_ID"))
        logs.bind(request_id=request_id)
        status = ["500"]

        def start(code: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            status[0] = code.split(" ", 1)[0]
            headers.append(("X-Request-Id", request_id))
            return start_response(code, headers, *exc)

        try:
            return self._app(environ, start)
        finally:
            route = environ.get(ROUTE_KEY, "unmatched")
            method = environ.get("REQUEST_METHOD", "")
            if method not in _METHODS:
                method = "other"
            count(HTTP_REQUESTS, route, method, status[0])
            observe(HTTP_SECONDS, time.perf_counter() - started, route)


_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}


def install(app: Flask, state: PipelineState | None) -> None:
    """Name each request's route for ObservedApp, and serve /metrics (with the pipeline's
    state when ``state`` is given: the API process group is its one reader)."""

    @app.before_request
    def name_the_route() -> None:
        if request.url_rule is not None:
            request.environ[ROUTE_KEY] = request.url_rule.rule

    @app.get("/metrics")
    def metrics() -> Response:
        body = exposition(state) if state is not None else exposition()
        return Response(body, mimetype=None, content_type=CONTENT_TYPE)

    app.wsgi_app = ObservedApp(app.wsgi_app)  # type: ignore[method-assign]

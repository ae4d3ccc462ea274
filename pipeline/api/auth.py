"""API keys: the key alone decides the company and the acting user, and its rate.

A key comes as `Authorization: Bearer <key>`, or from the inbox's sign-in cookie (which seals
a key; see pipeline/api/session_cookie.py) when there is no such header.
"""

from flask import Response, current_app, g, request

from pipeline.api.errors import error_response
from pipeline.api.session_cookie import CSRF_HEADER, require_csrf
from pipeline.bootstrap import Container
from pipeline.observability import logs
from pipeline.services.tenants import Principal, authenticate


def container() -> Container:
    app_container: Container = current_app.extensions["wapipe"]
    return app_container


def load_principal() -> Response | None:
    """A before_request hook for the /v1 blueprints: who calls, and whether it may now."""
    c = container()
    g.principal = current = authenticate(c.db, _api_key(c), c.principals)
    logs.bind(company_id=current.company_id)  # on every log line of this request
    verdict = c.rate_limiter.check(current.key_id, current.rate_limit)
    if verdict.allowed:
        return None
    wait = verdict.retry_after_seconds
    response = error_response(
        429,
        "RATE_LIMITED",
        "too many requests for this API key, retry later",
        {"retry_after_seconds": wait},
    )
    response.headers["Retry-After"] = str(wait)
    return response


def _api_key(c: Container) -> str | None:
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        return token.strip() if scheme.lower() == "bearer" else None
    session = c.sessions.from_request(request)
    if session is None:
        return None
    require_csrf(session, request.method, request.headers.get(CSRF_HEADER))
    return session.api_key


def principal() -> Principal:
    current: Principal = g.principal
    return current

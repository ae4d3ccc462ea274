"""/inbox: sign in with an API key, the page itself, sign out.

The page is static HTML, CSS and JavaScript (this folder's templates/ and static/) over the
/v1 API; see README.md here. These views only open and close the session cookie and hand the
page what it needs to start.
"""

import secrets

from flask import Blueprint, Response, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from pipeline.api.auth import container
from pipeline.api.session_cookie import forget_cookie, require_csrf, set_cookie
from pipeline.domain.errors import WapipeError
from pipeline.services.tenants import authenticate, describe_team
from pipeline.services.window import WINDOW_HOURS

bp = Blueprint(
    "inbox",
    __name__,
    url_prefix="/inbox",
    template_folder="templates",
    static_folder="static",
)

# The sign-in form's own CSRF token (double submit): no other site can sign a browser in
# as its own user.
LOGIN_COOKIE = "wapipe_login"


@bp.get("/")
@bp.get("")  # applied first: url_for gives /inbox
def page() -> BaseResponse:
    c = container()
    session = c.sessions.from_request(request)
    if session is None:
        return redirect(url_for("inbox.login"))
    try:
        caller = authenticate(c.db, session.api_key, c.principals)
    except WapipeError:  # the key was revoked since: sign in again
        response = redirect(url_for("inbox.login"))
        forget_cookie(response, c.sessions.secure(request))
        return response
    boot = describe_team(c.db, caller) | {
        "csrf_token": session.csrf_token,
        "window_hours": WINDOW_HOURS,
    }
    response = Response(render_template("inbox.html", boot=boot, csrf_token=session.csrf_token))
    _private(response)
    return response


@bp.get("/login")
def login() -> Response:
    return _login_form(error=None, status=200)


@bp.post("/login")
def sign_in() -> BaseResponse:
    c = container()
    expected = request.cookies.get(LOGIN_COOKIE, "")
    given = request.form.get("csrf_token", "")
    if not expected or not secrets.compare_digest(expected, given):
        return _login_form("The form expired; please sign in again.", status=403)
    if not c.sessions.enabled:
        return _login_form("Sign-in needs WAPIPE_SECRET_KEY to be set.", status=503)
    api_key = request.form.get("api_key", "").strip()
    try:
        authenticate(c.db, api_key, c.principals)
    except WapipeError:
        return _login_form("That API key is not valid.", status=401)
    response = redirect(url_for("inbox.page"))
    set_cookie(
        response, c.sessions.seal(c.sessions.new_session(api_key)), c.sessions.secure(request)
    )
    response.delete_cookie(LOGIN_COOKIE, path="/inbox")
    return response


@bp.post("/logout")
def sign_out() -> BaseResponse:
    c = container()
    session = c.sessions.from_request(request)
    if session is not None:
        require_csrf(session, request.method, request.form.get("csrf_token"))
    response = redirect(url_for("inbox.login"))
    forget_cookie(response, c.sessions.secure(request))
    return response


def _login_form(error: str | None, status: int) -> Response:
    secure = container().sessions.secure(request)
    token = secrets.token_urlsafe(32)
    page = render_template("login.html", error=error, csrf_token=token)
    response = Response(page, status=status)
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        path="/inbox",
        secure=secure,
        httponly=True,
        samesite="Strict",
    )
    _private(response)
    return response


def _private(response: Response) -> None:
    """Pages that carry a session's token are never cached, framed or sniffed."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' blob: data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'self'"
    )

"""The inbox's sign-in: a user's API key sealed in a cookie, and the CSRF token that goes with it.

The cookie holds the key itself (Fernet-sealed under a key derived from WAPIPE_SECRET_KEY), so
every request is authenticated exactly as a Bearer request with that key: a revoked key or a
changed role ends or changes the session within the API's auth cache time. The browser never
sees the key (HttpOnly) and never sends it to another site (SameSite=Strict); a request that
changes something must also echo the session's CSRF token in a header, which a page of
another origin cannot read.
"""

import hmac
import json
import secrets
from dataclasses import dataclass

from cryptography.fernet import InvalidToken, MultiFernet
from flask import Request
from werkzeug.wrappers import Response

from pipeline.config import Settings
from pipeline.crypto import derived_fernet
from pipeline.domain.errors import Forbidden

COOKIE = "wapipe_session"
CSRF_HEADER = "X-CSRF-Token"
MAX_AGE_SECONDS = 12 * 3600
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_PURPOSE = b"wapipe inbox session"


class CsrfFailed(Forbidden):
    """Raised when a cookie-authenticated request that changes something lacks the session's
    CSRF token."""

    code = "CSRF_FAILED"


@dataclass(frozen=True, slots=True)
class BrowserSession:
    api_key: str
    csrf_token: str


class SessionSealer:
    """Seals and opens session cookies; holds no key when WAPIPE_SECRET_KEY has none."""

    def __init__(self, fernet: MultiFernet | None, always_secure: bool = False) -> None:
        self._fernet = fernet
        self.always_secure = always_secure

    @classmethod
    def from_settings(cls, settings: Settings) -> "SessionSealer":
        return cls(derived_fernet(settings, _PURPOSE), settings.wapipe_secure_cookies)

    def secure(self, request: Request) -> bool:
        """Whether cookies set in answer to ``request`` are marked Secure."""
        return self.always_secure or request.is_secure

    @property
    def enabled(self) -> bool:
        return self._fernet is not None

    def new_session(self, api_key: str) -> BrowserSession:
        return BrowserSession(api_key, secrets.token_urlsafe(32))

    def seal(self, session: BrowserSession) -> str:
        assert self._fernet is not None, "sign-in is refused when no key can seal a session"
        body = json.dumps({"k": session.api_key, "c": session.csrf_token})
        return self._fernet.encrypt(body.encode()).decode()

    def open(self, value: str) -> BrowserSession | None:
        """The session a cookie holds; None if it was not sealed here, or is too old."""
        if self._fernet is None or not value:
            return None
        try:
            body = json.loads(self._fernet.decrypt(value.encode(), ttl=MAX_AGE_SECONDS))
            return BrowserSession(str(body["k"]), str(body["c"]))
        except (InvalidToken, ValueError, KeyError, TypeError):
            return None

    def from_request(self, request: Request) -> BrowserSession | None:
        return self.open(request.cookies.get(COOKIE, ""))


def require_csrf(session: BrowserSession, method: str, given: str | None) -> None:
    """A cookie-authenticated request that changes something must echo the CSRF token
    (``given``: the header, or a form field for the inbox's own forms)."""
    if method in SAFE_METHODS:
        return
    if not hmac.compare_digest((given or "").encode(), session.csrf_token.encode()):
        raise CsrfFailed(f"this request needs the session's {CSRF_HEADER} header")


def set_cookie(response: Response, value: str, secure: bool) -> None:
    response.set_cookie(
        COOKIE,
        value,
        max_age=MAX_AGE_SECONDS,
        path="/",
        secure=secure,
        httponly=True,
        samesite="Strict",
    )


def forget_cookie(response: Response, secure: bool) -> None:
    response.delete_cookie(COOKIE, path="/", secure=secure, httponly=True, samesite="Strict")

"""One JSON error shape for every failure; never a stack trace."""

import logging
from typing import Any

from flask import Flask, Response, jsonify
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException

from pipeline.domain.errors import WapipeError

log = logging.getLogger("wapipe.api")

_HTTP_CODES = {
    400: "VALIDATION_ERROR",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMITED",
    503: "UNAVAILABLE",
}


DATABASE_DOWN = "the database is unavailable, try again"


def error_document(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """The one error shape of every answer, Flask's or the webhook receiver's."""
    return {"error": {"code": code, "message": message, "details": details}}


def error_response(status: int, code: str, message: str, details: Any = None) -> Response:
    response = jsonify(error_document(code, message, details))
    response.status_code = status
    return response


def field_errors(exc: PydanticValidationError) -> dict[str, str]:
    """Map pydantic's errors to {"field.path": "what is wrong"}."""
    details: dict[str, str] = {}
    for error in exc.errors(include_url=False, include_input=False):
        field = ".".join(str(part) for part in error["loc"]) or "body"
        ctx_error = (error.get("ctx") or {}).get("error")
        details[field] = str(ctx_error) if isinstance(ctx_error, ValueError) else error["msg"]
    return details


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(WapipeError)
    def _wapipe(exc: WapipeError) -> Response:
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        status = exc.code or 500
        code = _HTTP_CODES.get(status, "HTTP_ERROR")
        response = error_response(status, code, exc.description or exc.name)
        for name, value in exc.get_headers():  # `Allow` on a 405, as RFC 9110 requires
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(OperationalError)
    def _database_down(exc: OperationalError) -> Response:
        log.error("database unavailable: %s", type(exc.orig).__name__)
        return error_response(503, "UNAVAILABLE", DATABASE_DOWN)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        # Logged with its traceback for us; the client gets a stable code and nothing else.
        if isinstance(exc, DBAPIError):
            log.error("database error: %s", type(exc.orig).__name__)
        else:
            log.exception("unhandled error")
        return error_response(500, "INTERNAL", "internal error")

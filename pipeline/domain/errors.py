"""One error hierarchy; each error carries its HTTP status and stable error code."""

from typing import Any, ClassVar


class WapipeError(Exception):
    """Raised when a request or command cannot be carried out; the base of every wapipe error."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "INTERNAL"

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ValidationError(WapipeError):
    """Raised when input is malformed; ``details`` names the offending fields."""

    status = 400
    code = "VALIDATION_ERROR"


class Unauthorized(WapipeError):
    """Raised when a request carries no valid API key."""

    status = 401
    code = "UNAUTHORIZED"


class Forbidden(WapipeError):
    """Raised when the caller's role does not allow the action."""

    status = 403
    code = "FORBIDDEN"


class NotFound(WapipeError):
    """Raised when a resource does not exist or belongs to another company."""

    status = 404
    code = "NOT_FOUND"


class Conflict(WapipeError):
    """Raised when the resource's current state does not allow the action."""

    status = 409
    code = "CONFLICT"


class Unavailable(WapipeError):
    """Raised when a dependency (database, broker) cannot be reached."""

    status = 503
    code = "UNAVAILABLE"


class IdempotencyConflict(Conflict):
    """Raised when an Idempotency-Key is reused with a different request."""

    code = "IDEMPOTENCY_CONFLICT"


class IdempotencyInProgress(Conflict):
    """Raised when the first request with an Idempotency-Key is still running too long."""

    code = "IDEMPOTENCY_IN_PROGRESS"


class WindowClosed(Conflict):
    """Raised when a company enforcing the 24-hour window sends a non-template message to
    a conversation whose window is closed."""

    code = "WINDOW_CLOSED"


class PayloadTooLarge(WapipeError):
    """Raised when an upload is larger than the provider accepts for its type."""

    status = 413
    code = "PAYLOAD_TOO_LARGE"

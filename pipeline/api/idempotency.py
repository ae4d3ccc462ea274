"""The Idempotency-Key header, and answering with a stored reply."""

from flask import Response, request

from pipeline.domain.errors import ValidationError
from pipeline.services.idempotency import MAX_KEY_LENGTH, IdempotentRequest, Reply

HEADER = "Idempotency-Key"


def idempotency(endpoint: str) -> IdempotentRequest | None:
    """The request's key and fingerprint, or None without the header. Call after parse_body."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    key = key.strip()
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise ValidationError(
            "the Idempotency-Key is not valid",
            {HEADER: f"1 to {MAX_KEY_LENGTH} printable ASCII characters"},
        )
    return IdempotentRequest.of(key, endpoint, request.get_json(silent=True))


def reply_response(answer: Reply) -> Response:
    response = Response(answer.body, status=answer.status, mimetype="application/json")
    if answer.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response

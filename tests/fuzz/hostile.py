"""The hostile corpus: requests an attacker or a careless client sends, each with its answer.

Every case is raw bytes on the wire (see raw.py), sent on a kept-alive connection; the test
then requires the connection to carry another request unless the answer said it closes.
`{key}`, `{message_id}` and `{conversation_id}` are filled in with a real tenant's.
"""

import base64
import json
from dataclasses import dataclass

from tests.conftest import APP_SECRET
from tests.fuzz.raw import request_bytes
from tests.support import status_body
from webhooks.signature import sign

LIMIT = 1024 * 1024  # pipeline.api.app.MAX_BODY_BYTES
AUTH = ("Authorization", "Bearer {key}")
JSON = ("Content-Type", "application/json")
VALID = b'{"to": "+1 650 555 0142", "text": "hello"}'
DEEP_ARRAYS = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECTS = b'{"a":' * 50_000 + b"1" + b"}" * 50_000
WEBHOOK = "/webhooks/whatsapp"


@dataclass(frozen=True)
class Hostile:
    name: str
    request: bytes
    status: int
    code: str | None  # the error code of the answer; None for a success


def _send(body: bytes, *headers: tuple[str | bytes, str | bytes], **options: bool) -> bytes:
    return request_bytes("POST", "/v1/messages", [AUTH, JSON, *headers], body, **options)


def _get(target: str | bytes, *headers: tuple[str | bytes, str | bytes]) -> bytes:
    return request_bytes("GET", target, [AUTH, *headers])


def _signed(body: bytes, **options: bool) -> bytes:
    signature = ("X-Hub-Signature-256", sign(APP_SECRET, body))
    return request_bytes("POST", WEBHOOK, [JSON, signature], body, **options)


def _cursor(position: object) -> str:
    raw = json.dumps(position).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


_LIST = "/v1/conversations"
_THREAD = "/v1/conversations/{conversation_id}/messages"
_OVER = b'{"to": "+16505550142", "text": "' + b"x" * LIMIT + b'"}'
_STATUS = status_body("1", [])

CORPUS = [
    # Bodies over the limit: refused unread, and the answer says the connection closes.
    Hostile("v1 body over the limit", _send(_OVER), 413, "PAYLOAD_TOO_LARGE"),
    Hostile(
        "v1 declares a huge body and sends none",
        request_bytes("POST", "/v1/messages", [AUTH, JSON, ("Content-Length", "10000000000")]),
        413,
        "PAYLOAD_TOO_LARGE",
    ),
    Hostile("v1 chunked body over the limit", _send(_OVER, chunked=True), 413, "PAYLOAD_TOO_LARGE"),
    Hostile("v1 chunked body within the limit", _send(VALID, chunked=True), 202, None),
    Hostile("webhook body over the limit", _signed(b" " * (LIMIT + 1)), 413, "PAYLOAD_TOO_LARGE"),
    Hostile(
        "webhook chunked body over the limit",
        _signed(b" " * (LIMIT + 1), chunked=True),
        413,
        "PAYLOAD_TOO_LARGE",
    ),
    Hostile("webhook chunked signed body", _signed(_STATUS, chunked=True), 200, None),
    Hostile(
        "v1 unauthorised large body",
        request_bytes("POST", "/v1/messages", [JSON], b" " * (LIMIT - 10)),
        401,
        "UNAUTHORIZED",
    ),
    # Bodies that are not the JSON asked for.
    Hostile("v1 deeply nested arrays", _send(DEEP_ARRAYS), 400, "VALIDATION_ERROR"),
    Hostile("v1 deeply nested objects", _send(DEEP_OBJECTS), 400, "VALIDATION_ERROR"),
    Hostile(
        "v1 non-UTF-8 body", _send(b'{"to": "\xff\xfe", "text": "\xc3"}'), 400, "VALIDATION_ERROR"
    ),
    # JSON in UTF-16 or UTF-32 is still JSON (RFC 8259 8.1: json.loads detects it).
    Hostile("v1 UTF-16 body", _send(VALID.decode().encode("utf-16")), 202, None),
    Hostile("v1 truncated JSON", _send(b'{"to": "+16505550142", "te'), 400, "VALIDATION_ERROR"),
    Hostile("v1 JSON array", _send(b"[1, 2]"), 400, "VALIDATION_ERROR"),
    Hostile(
        "v1 huge number",
        _send(b'{"to": 1' + b"0" * 5000 + b', "text": "x"}'),
        400,
        "VALIDATION_ERROR",
    ),
    Hostile(
        "v1 NUL in the text",
        _send(b'{"to": "+16505550142", "text": "a\\u0000"}'),
        400,
        "VALIDATION_ERROR",
    ),
    Hostile(
        "v1 lone surrogate",
        _send(b'{"to": "+16505550142", "text": "\\ud800"}'),
        400,
        "VALIDATION_ERROR",
    ),
    # Arabic-Indic digits are digits: stored as E.164 +16505550142.
    Hostile("v1 non-ASCII phone", _send('{"to": "+١٦٥٠٥٥٥٠١٤٢", "text": "é"}'.encode()), 202, None),
    Hostile("webhook signed non-JSON", _signed(b"\xff\xfe not json"), 400, "VALIDATION_ERROR"),
    Hostile("webhook signed deep nesting", _signed(DEEP_ARRAYS), 400, "VALIDATION_ERROR"),
    Hostile("webhook signed deep objects", _signed(DEEP_OBJECTS), 400, "VALIDATION_ERROR"),
    # Content types.
    Hostile(
        "v1 text/plain body",
        request_bytes("POST", "/v1/messages", [AUTH, ("Content-Type", "text/plain")], VALID),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    ),
    Hostile(
        "v1 no content type",
        request_bytes("POST", "/v1/messages", [AUTH], VALID),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    ),
    Hostile(
        "v1 form body",
        request_bytes(
            "POST",
            "/v1/messages",
            [AUTH, ("Content-Type", "application/x-www-form-urlencoded")],
            b"to=1&text=2",
        ),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    ),
    Hostile(
        "v1 multipart body",
        request_bytes(
            "POST",
            "/v1/messages",
            [AUTH, ("Content-Type", "multipart/form-data; boundary=x")],
            b"--x--\r\n",
        ),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    ),
    Hostile(
        "v1 latin-1 charset",
        request_bytes(
            "POST",
            "/v1/messages",
            [AUTH, ("Content-Type", "application/json; charset=latin-1")],
            b'{"to": "+16505550142", "text": "\xe9"}',
        ),
        400,
        "VALIDATION_ERROR",
    ),
    Hostile(
        "two content types", _send(VALID, ("Content-Type", "text/plain")), 400, "MALFORMED_REQUEST"
    ),
    # Headers: non-ASCII, oversized, malformed.
    Hostile(
        "non-ASCII Authorization",
        _get(_LIST, ("Authorization", "Bearer wap_\xe9\xff")),
        401,
        "UNAUTHORIZED",
    ),
    Hostile(
        "UTF-8 Authorization",
        _get(_LIST, ("Authorization", "Bearer ключ".encode())),
        401,
        "UNAUTHORIZED",
    ),
    Hostile(
        "long Authorization",
        _get(_LIST, ("Authorization", "Bearer wap_" + "a" * 6000)),
        401,
        "UNAUTHORIZED",
    ),
    Hostile(
        "non-ASCII Idempotency-Key",
        _send(VALID, ("Idempotency-Key", "ключ".encode())),
        400,
        "VALIDATION_ERROR",
    ),
    Hostile(
        "long Idempotency-Key",
        _send(VALID, ("Idempotency-Key", "k" * 300)),
        400,
        "VALIDATION_ERROR",
    ),
    Hostile(
        "non-ASCII signature",
        request_bytes("POST", WEBHOOK, [JSON, ("X-Hub-Signature-256", "sha256=\xe9" * 8)], _STATUS),
        401,
        "UNAUTHORIZED",
    ),
    Hostile(
        "UTF-8 signature",
        request_bytes(
            "POST", WEBHOOK, [JSON, ("X-Hub-Signature-256", "sha256=é".encode())], _STATUS
        ),
        401,
        "UNAUTHORIZED",
    ),
    Hostile(
        "unsigned webhook", request_bytes("POST", WEBHOOK, [JSON], _STATUS), 401, "UNAUTHORIZED"
    ),
    Hostile(
        "control character in a header", _get(_LIST, ("X-Note", "a\x01b")), 400, "MALFORMED_REQUEST"
    ),
    Hostile(
        "header without a colon",
        _get(_LIST, ("X-Broken", "")).replace(b"X-Broken: ", b"X-Broken"),
        400,
        "MALFORMED_REQUEST",
    ),
    Hostile("header name with a space", _get(_LIST, ("X Bad", "1")), 400, "MALFORMED_REQUEST"),
    Hostile(
        "headers over the limit",
        _get(_LIST, *[(f"X-H{i}", "v" * 100) for i in range(120)]),
        431,
        "HEADERS_TOO_LARGE",
    ),
    Hostile(
        "one header over the limit", _get(_LIST, ("X-Big", "v" * 9000)), 431, "HEADERS_TOO_LARGE"
    ),
    Hostile(
        "unknown transfer coding",
        request_bytes(
            "POST",
            "/v1/messages",
            [AUTH, JSON, ("Transfer-Encoding", "gzip")],
            b"",
            content_length=False,
        ),
        400,
        "MALFORMED_REQUEST",
    ),
    Hostile(
        "Content-Length and chunked together",
        request_bytes(
            "POST", "/v1/messages", [AUTH, JSON, ("Content-Length", "5")], VALID, chunked=True
        ),
        400,
        "MALFORMED_REQUEST",
    ),
    Hostile(
        "broken chunk size",
        request_bytes(
            "POST",
            "/v1/messages",
            [AUTH, JSON, ("Transfer-Encoding", "chunked")],
            b"zz\r\nabc\r\n0\r\n\r\n",
            content_length=False,
        ),
        400,
        "MALFORMED_REQUEST",
    ),
    Hostile(
        "negative Content-Length",
        request_bytes(
            "POST", "/v1/messages", [AUTH, JSON, ("Content-Length", "-1")], content_length=False
        ),
        400,
        "MALFORMED_REQUEST",
    ),
    Hostile(
        "Expect 100-continue with a body over the limit",
        request_bytes(
            "POST",
            "/v1/messages",
            [AUTH, JSON, ("Expect", "100-continue"), ("Content-Length", str(2 * LIMIT))],
        ),
        413,
        "PAYLOAD_TOO_LARGE",
    ),
    Hostile(
        "unknown expectation",
        request_bytes("POST", "/v1/messages", [AUTH, JSON, ("Expect", "gold")], VALID),
        417,
        "EXPECTATION_FAILED",
    ),
    Hostile(
        "Content-Length not a number",
        request_bytes("POST", "/v1/messages", [AUTH, JSON, ("Content-Length", "ten")]),
        400,
        "MALFORMED_REQUEST",
    ),
    Hostile("non-ASCII X-Request-Id", _get("/healthz", ("X-Request-Id", "id-\xe9\xff")), 200, None),
    Hostile("long X-Request-Id", _get("/healthz", ("X-Request-Id", "r" * 6000)), 200, None),
    # Query strings and cursors.
    Hostile("cursor not base64", _get(f"{_LIST}?cursor=!!!"), 400, "VALIDATION_ERROR"),
    Hostile("cursor of no JSON", _get(f"{_LIST}?cursor=AAAA"), 400, "VALIDATION_ERROR"),
    Hostile(
        "cursor of a JSON list", _get(f"{_LIST}?cursor={_cursor([1])}"), 400, "VALIDATION_ERROR"
    ),
    Hostile(
        "cursor of the other list",
        _get(f"{_LIST}?cursor={_cursor({'seq': 3})}"),
        400,
        "VALIDATION_ERROR",
    ),
    Hostile(
        "cursor with a naive time",
        _get(f"{_LIST}?cursor={_cursor({'at': '2026-01-01T00:00:00', 'id': '0' * 32})}"),
        400,
        "VALIDATION_ERROR",
    ),
    Hostile(
        "cursor with a float seq",
        _get(f"{_THREAD}?cursor={_cursor({'seq': 1.5})}"),
        400,
        "VALIDATION_ERROR",
    ),
    Hostile(
        "cursor with a huge seq",
        _get(f"{_THREAD}?cursor={_cursor({'seq': 10**30})}"),
        400,
        "VALIDATION_ERROR",
    ),
    Hostile("cursor too long", _get(f"{_LIST}?cursor={'A' * 201}"), 400, "VALIDATION_ERROR"),
    Hostile(
        "cursor with percent-encoded UTF-8", _get(f"{_LIST}?cursor=%C3%A9"), 400, "VALIDATION_ERROR"
    ),
    Hostile("query of invalid percent-encoding", _get(f"{_LIST}?q=%FF%FE"), 200, None),
    Hostile(
        "query with raw non-ASCII bytes",
        _get(b"/v1/conversations?q=\xc3\xa9\xff"),
        400,
        "MALFORMED_REQUEST",
    ),
    Hostile("query with a NUL", _get(f"{_LIST}?q=a%00b"), 400, "VALIDATION_ERROR"),
    Hostile("repeated query parameter", _get(f"{_LIST}?limit=1&limit=2"), 400, "VALIDATION_ERROR"),
    Hostile("huge limit", _get(f"{_LIST}?limit=1{'0' * 40}"), 400, "VALIDATION_ERROR"),
    Hostile("unknown query parameter", _get(f"{_LIST}?evil=1"), 400, "VALIDATION_ERROR"),
    Hostile(
        "query string within the line limit",
        _get(f"{_LIST}?q={'a' * 3900}"),
        400,
        "VALIDATION_ERROR",
    ),
    Hostile(
        "query string over the line limit", _get(f"{_LIST}?q={'a' * 9000}"), 414, "URI_TOO_LONG"
    ),
    # Paths and methods.
    Hostile("id that is not a UUID", _get("/v1/messages/not-a-uuid"), 404, "NOT_FOUND"),
    Hostile("percent-encoded non-UTF-8 path", _get("/v1/messages/%FF%FE"), 404, "NOT_FOUND"),
    Hostile(
        "unknown method", request_bytes("TRACE", "/v1/messages", [AUTH]), 405, "METHOD_NOT_ALLOWED"
    ),
    Hostile(
        "invalid method token", request_bytes("GE(T", "/healthz", []), 400, "MALFORMED_REQUEST"
    ),
    Hostile(
        "absolute-form target", _get("http://evil.example/v1/messages/{message_id}"), 200, None
    ),
]

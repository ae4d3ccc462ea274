"""Idempotency-Key: a request repeated with the same key gets the first answer, once.

The key row is inserted in the same transaction as the work it guards and holds that work's
response, so a committed key always has its answer and a failed request (4xx or 5xx) leaves
no key behind: its retry simply runs again. A twin racing with the same key blocks on the
uncommitted key row until the first commits (then replays its answer) or rolls back (then
runs itself); it never does the work a second time.
"""

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from db.session import Database
from pipeline.domain.errors import IdempotencyConflict, IdempotencyInProgress
from pipeline.services.tenants import Principal

# Keys are kept at least this long; an older key may be reused for a new request (and
# is deleted by retention, WAPIPE_RETENTION_IDEMPOTENCY_HOURS).
KEEP_FOR = timedelta(hours=24)
# How long a twin waits for the first request's transaction before giving up with a 409.
TWIN_WAIT = timedelta(seconds=10)
MAX_KEY_LENGTH = 255


@dataclass(frozen=True, slots=True)
class Reply:
    """An HTTP answer as stored for replays: status and the exact JSON body text."""

    status: int
    body: str
    replayed: bool = False

    def json(self) -> Any:
        return json.loads(self.body)


def reply(status: int, body: Any) -> Reply:
    return Reply(status, json.dumps(body, separators=(",", ":"), default=_encode))


def _encode(value: object) -> str:
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


@dataclass(frozen=True, slots=True)
class IdempotentRequest:
    """A key and the fingerprint of the request it was sent with."""

    key: str
    fingerprint: bytes

    @classmethod
    def of(cls, key: str, endpoint: str, payload: Any) -> "IdempotentRequest":
        # "The same body" is the same JSON value: key order and whitespace do not matter.
        canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        digest = hashlib.sha256(f"{endpoint}\n{canonical}".encode()).digest()
        return cls(key, digest)


# Take the key, or reclaim one older than KEEP_FOR. No row back means someone else holds it;
# if that holder is still running, this statement waits for its transaction to end first.
_CLAIM_SQL = text("""
INSERT INTO idempotency_keys (company_id, key, fingerprint, created_by)
VALUES (:company_id, :key, :fingerprint, :user_id)
ON CONFLICT (company_id, key) DO UPDATE SET
    fingerprint = EXCLUDED.fingerprint,
    created_by = EXCLUDED.created_by,
    created_at = now(),
    response_status = NULL,
    response_body = NULL
WHERE idempotency_keys.created_at < now() - make_interval(secs => :keep_seconds)
RETURNING 1
""")

_STORED_SQL = text("""
SELECT fingerprint, response_status, response_body FROM idempotency_keys
WHERE company_id = :company_id AND key = :key
""")

_RECORD_SQL = text("""
UPDATE idempotency_keys SET response_status = :status, response_body = :body
WHERE company_id = :company_id AND key = :key
""")


def run_once(
    db: Database,
    principal: Principal,
    once: IdempotentRequest | None,
    operation: Callable[[Session], Reply],
    twin_wait: timedelta = TWIN_WAIT,
) -> Reply:
    """Run ``operation`` in one transaction, at most once per company and key."""
    with db.transaction() as session:
        if once is not None:
            stored = _claim(session, principal, once, twin_wait)
            if stored is not None:
                return stored
        result = operation(session)
        if once is not None:
            session.execute(
                _RECORD_SQL,
                {
                    "status": result.status,
                    "body": result.body,
                    "company_id": principal.company_id,
                    "key": once.key,
                },
            )
    return result


def purge_idempotency_keys(db: Database) -> int:
    """Delete keys past their 24 hours, in batches; how many went.

    Retention (`retention.prune`) prunes them with the other logs; this stays for the
    operator's sweep until the leader's maintenance runs prune.
    """
    from pipeline.services.retention import prune_log  # retention reads KEEP_FOR from here

    return prune_log(db, "idempotency_keys", KEEP_FOR)[0]


def _claim(
    session: Session, principal: Principal, once: IdempotentRequest, twin_wait: timedelta
) -> Reply | None:
    """None if this request now owns the key; else the stored answer to replay."""
    params: dict[str, Any] = {
        "company_id": principal.company_id,
        "key": once.key,
        "fingerprint": once.fingerprint,
        "user_id": principal.user_id,
        "keep_seconds": KEEP_FOR.total_seconds(),
    }
    # Bounds the wait for a twin's transaction (and, harmlessly, any lock this one takes).
    session.execute(text(f"SET LOCAL lock_timeout = {int(twin_wait.total_seconds() * 1000)}"))
    try:
        if session.execute(_CLAIM_SQL, params).first() is not None:
            return None
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) == "55P03":  # lock_not_available
            raise IdempotencyInProgress(
                "a request with this Idempotency-Key is still in progress; retry later",
                {"key": once.key},
            ) from exc
        raise
    row = session.execute(_STORED_SQL, params).one()
    if bytes(row.fingerprint) != once.fingerprint:
        raise IdempotencyConflict(
            "this Idempotency-Key was used with a different request", {"key": once.key}
        )
    return Reply(row.response_status, row.response_body, replayed=True)

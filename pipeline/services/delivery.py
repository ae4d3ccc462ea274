"""Delivering one message: claim it, call the provider with no transaction open, record."""

import logging
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import func, text, update
from sqlalchemy.orm import Session

from db.models import Message
from db.session import Database
from pipeline.config import Settings
from pipeline.domain.statuses import Source, Status
from pipeline.faults import crash_point
from pipeline.provider.client import OutboundText, WhatsAppClient
from pipeline.provider.errors import ErrorKind, ProviderError, min_backoff_ms, retry_budget
from pipeline.services.ports import TaskQueue
from pipeline.services.statuses import ErrorInfo, StatusReport, apply_status, lock_wamid
from pipeline.services.webhooks import apply_pending_statuses

log = logging.getLogger("wapipe.delivery")

# After an ambiguous send (the request left, no answer came) wait at least this long for a
# status webhook carrying our id before sending again: it adopts the wamid and ends the job.
AMBIGUOUS_WAIT_MS = 15_000
# Lease owners that are not a worker: a message held through a backoff, or through the
# reconciliation wait after an ambiguous send.
BACKOFF, AMBIGUOUS = "backoff", "ambiguous"


class Outcome(StrEnum):
    SENT = "sent"
    FAILED = "failed"
    RETRY = "retry"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    outcome: Outcome
    retry_in_ms: int | None = None
    error: ProviderError | None = None


# The claim, in one statement: lease a message still owed a send, unless another worker
# holds it or an earlier message of its conversation is still owed one (order per contact).
# A lease taken over from a worker (it died or timed out mid-send) or after an ambiguous
# send means the provider may already have the message: that resend is counted.
_CLAIM_SQL = text("""
UPDATE messages m SET
    lease_owner = :owner,
    lease_expires_at = now() + make_interval(secs => :lease_seconds),
    attempts = m.attempts + 1,
    ambiguous_resends = m.ambiguous_resends
        + (m.lease_owner IS NOT NULL AND m.lease_owner <> 'backoff')::int,
    updated_at = now()
FROM channels c
WHERE m.id = :id AND c.company_id = m.company_id
  AND m.status = 'sending' AND m.deleted_at IS NULL
  AND (m.lease_expires_at IS NULL OR m.lease_expires_at <= now())
  AND NOT EXISTS (
      SELECT 1 FROM messages e
      WHERE e.conversation_id = m.conversation_id AND e.seq < m.seq
        AND e.status = 'sending' AND e.deleted_at IS NULL)
RETURNING m.to_phone, m.text, m.attempts, m.conversation_id,
          c.phone_number_id, c.access_token,
          now() - m.queued_at > make_interval(secs => :max_age) AS expired,
          (SELECT r.provider_message_id FROM messages r
            WHERE r.id = m.reply_to_message_id) AS reply_to_wamid
""")

# Why a claim failed: finished, leased (how long for), or waiting behind an earlier message.
_UNCLAIMED_SQL = text("""
SELECT m.status, m.conversation_id,
       GREATEST(0, EXTRACT(EPOCH FROM m.lease_expires_at - now()) * 1000)::bigint AS lease_ms,
       EXISTS (SELECT 1 FROM messages e
               WHERE e.conversation_id = m.conversation_id AND e.seq < m.seq
                 AND e.status = 'sending' AND e.deleted_at IS NULL) AS blocked
FROM messages m WHERE m.id = :id
""")

# The conversation's next message owed a send: started when the one before it is done.
_NEXT_IN_LINE_SQL = text("""
SELECT id FROM messages
WHERE conversation_id = :conversation_id AND status = 'sending' AND deleted_at IS NULL
ORDER BY seq LIMIT 1
""")


@dataclass(frozen=True, slots=True)
class Deliverer:
    """Delivers messages; built once per worker process."""

    db: Database
    client: WhatsAppClient
    queue: TaskQueue
    settings: Settings
    worker_id: str

    def deliver(self, message_id: uuid.UUID) -> DeliveryResult:
        claim = self._claim(message_id)
        if claim is None:
            return self._unclaimed(message_id)
        crash_point("worker_after_claim")
        if claim.expired:
            error = ErrorInfo("expired", "not delivered within the maximum delivery age")
            self._fail(message_id, claim.conversation_id, error)
            return DeliveryResult(Outcome.FAILED)
        outbound = OutboundText(
            phone_number_id=claim.phone_number_id,
            access_token=claim.access_token,
            to=claim.to_phone,
            text=claim.text or "",
            callback_data=str(message_id),
            reply_to_wamid=claim.reply_to_wamid,
        )
        try:
            wamid = self.client.send_text(outbound)
        except ProviderError as error:
            return self._after_error(message_id, claim.conversation_id, claim.attempts, error)
        crash_point("worker_after_send")
        self._record_sent(message_id, claim.conversation_id, wamid)
        return DeliveryResult(Outcome.SENT)

    def _claim(self, message_id: uuid.UUID) -> Any:
        params = {
            "id": message_id,
            "owner": self.worker_id,
            "lease_seconds": self.settings.wapipe_lease_seconds,
            "max_age": self.settings.wapipe_max_delivery_age_seconds,
        }
        with self.db.transaction() as session:
            return session.execute(_CLAIM_SQL, params).first()

    def _unclaimed(self, message_id: uuid.UUID) -> DeliveryResult:
        """Not claimable. Done: start the next message in line. Waiting behind an earlier
        message: drop the job (that message starts us when it is done). Leased: look again
        when the lease runs out, since it may belong to a worker that died."""
        with self.db.transaction() as session:
            row = session.execute(_UNCLAIMED_SQL, {"id": message_id}).first()
            if row is None:
                return DeliveryResult(Outcome.SKIPPED)
            next_id = None
            if row.status != Status.SENDING:
                next_id = _next_in_line(session, row.conversation_id)
        if next_id is not None:
            self._enqueue(next_id)
        if row.status != Status.SENDING or row.blocked:
            return DeliveryResult(Outcome.SKIPPED)
        return DeliveryResult(Outcome.RETRY, retry_in_ms=int(row.lease_ms) + 250)

    def _after_error(
        self, message_id: uuid.UUID, conversation_id: uuid.UUID, attempts: int, error: ProviderError
    ) -> DeliveryResult:
        info = ErrorInfo(error.error_code, error.title, error.details, error.fbtrace_id)
        permanent = error.kind in (ErrorKind.PERMANENT, ErrorKind.CHANNEL_HALT)
        if permanent or attempts >= retry_budget(error.code, self.settings.wapipe_max_attempts):
            self._fail(message_id, conversation_id, info)
            return DeliveryResult(Outcome.FAILED, error=error)
        delay = self._backoff_ms(error, attempts)
        owner = AMBIGUOUS if error.kind is ErrorKind.AMBIGUOUS else BACKOFF
        self._hold_until_retry(message_id, delay, owner)
        return DeliveryResult(Outcome.RETRY, retry_in_ms=delay, error=error)

    def _backoff_ms(self, error: ProviderError, attempts: int) -> int:
        base = min_backoff_ms(
            error.code, error.kind, attempts, self.settings.wapipe_retry_min_backoff_ms
        )
        capped = min(base, self.settings.wapipe_retry_max_backoff_ms)
        delay = int(random.uniform(capped / 2, capped))  # jitter spreads a burst of retries
        if error.kind is ErrorKind.AMBIGUOUS:
            delay = max(delay, AMBIGUOUS_WAIT_MS)
        return delay

    def _hold_until_retry(self, message_id: uuid.UUID, delay_ms: int, owner: str) -> None:
        # Keep the lease through the backoff, so a stray twin job cannot send early; the
        # scheduled retry finds it expired and claims the message again. `enqueued_at` is
        # when that retry is due, so the sweeper leaves it alone until then.
        due = func.now() + timedelta(milliseconds=delay_ms)
        with self.db.transaction() as session:
            session.execute(
                update(Message)
                .where(Message.id == message_id, Message.lease_owner == self.worker_id)
                .values(lease_owner=owner, lease_expires_at=due, enqueued_at=due)
            )

    def _record_sent(self, message_id: uuid.UUID, conversation_id: uuid.UUID, wamid: str) -> None:
        with self.db.transaction() as session:
            lock_wamid(session, wamid)
            session.execute(
                update(Message)
                .where(Message.id == message_id)
                .values(
                    provider_message_id=func.coalesce(Message.provider_message_id, wamid),
                    lease_owner=None,
                    lease_expires_at=None,
                )
            )
            report = StatusReport(Status.SENT, _now(), Source.WORKER, detail={"wamid": wamid})
            apply_status(session, message_id, report)
            apply_pending_statuses(session, message_id, wamid)
            next_id = _next_in_line(session, conversation_id)
        if next_id is not None:
            self._enqueue(next_id)

    def _fail(self, message_id: uuid.UUID, conversation_id: uuid.UUID, error: ErrorInfo) -> None:
        report = StatusReport(
            Status.FAILED,
            _now(),
            Source.WORKER,
            error=error,
            on_applied={"lease_owner": None, "lease_expires_at": None},
        )
        with self.db.transaction() as session:
            apply_status(session, message_id, report)
            next_id = _next_in_line(session, conversation_id)
        if next_id is not None:
            self._enqueue(next_id)

    def _enqueue(self, message_id: uuid.UUID) -> None:
        try:
            self.queue.enqueue_delivery(message_id)
        except Exception:  # the sweeper finds it in PostgreSQL
            log.exception("could not enqueue message %s", message_id)


def _next_in_line(session: Session, conversation_id: uuid.UUID) -> uuid.UUID | None:
    next_id: uuid.UUID | None = session.execute(
        _NEXT_IN_LINE_SQL, {"conversation_id": conversation_id}
    ).scalar()
    return next_id


def _now() -> datetime:
    return datetime.now(UTC)

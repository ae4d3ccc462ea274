"""Delivering one message: claim it, call the provider with no transaction open, record."""

import logging
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, text, update
from sqlalchemy.engine import Row

from db.models import Message
from db.session import Database
from pipeline.config import Settings
from pipeline.domain.statuses import Source, Status
from pipeline.provider.client import OutboundText, WhatsAppClient
from pipeline.provider.errors import ErrorKind, ProviderError, min_backoff_ms, retry_budget
from pipeline.services.statuses import ErrorInfo, StatusReport, apply_status, lock_wamid
from pipeline.services.webhooks import apply_pending_statuses

log = logging.getLogger("wapipe.delivery")

# After an ambiguous send (the request left, no answer came) wait at least this long for a
# status webhook carrying our id before sending again: it adopts the wamid and ends the job.
AMBIGUOUS_WAIT_MS = 15_000


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


# The claim: one statement that takes a lease on a message still owed a send, counts the
# attempt and fetches what the send needs. A message leased by another worker is not taken.
_CLAIM_SQL = text("""
UPDATE messages m SET
    lease_owner = :owner,
    lease_expires_at = now() + make_interval(secs => :lease_seconds),
    attempts = m.attempts + 1,
    updated_at = now()
FROM channels c
WHERE m.id = :id AND c.company_id = m.company_id AND m.status = 'sending'
  AND (m.lease_expires_at IS NULL OR m.lease_expires_at <= now())
RETURNING m.to_phone, m.text, m.attempts, c.phone_number_id, c.access_token,
          now() - m.queued_at > make_interval(secs => :max_age) AS expired,
          (SELECT r.provider_message_id FROM messages r
            WHERE r.id = m.reply_to_message_id) AS reply_to_wamid
""")

_LEASE_LEFT_SQL = text("""
SELECT status, GREATEST(0, EXTRACT(EPOCH FROM lease_expires_at - now()) * 1000)::bigint AS ms
FROM messages WHERE id = :id
""")


@dataclass(frozen=True, slots=True)
class Deliverer:
    """Delivers messages; built once per worker process."""

    db: Database
    client: WhatsAppClient
    settings: Settings
    worker_id: str

    def deliver(self, message_id: uuid.UUID) -> DeliveryResult:
        claim = self._claim(message_id)
        if claim is None:
            return self._unclaimed(message_id)
        if claim.expired:
            error = ErrorInfo("expired", "not delivered within the maximum delivery age")
            self._fail(message_id, error)
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
            return self._after_error(message_id, claim.attempts, error)
        self._record_sent(message_id, wamid)
        return DeliveryResult(Outcome.SENT)

    def _claim(self, message_id: uuid.UUID) -> Row[tuple[str, ...]] | None:
        params = {
            "id": message_id,
            "owner": self.worker_id,
            "lease_seconds": self.settings.wapipe_lease_seconds,
            "max_age": self.settings.wapipe_max_delivery_age_seconds,
        }
        with self.db.transaction() as session:
            return session.execute(_CLAIM_SQL, params).first()

    def _unclaimed(self, message_id: uuid.UUID) -> DeliveryResult:
        """Not claimable: done already, or leased. A lease may belong to a dead worker, so a
        leased message is looked at again once the lease runs out rather than forgotten."""
        with self.db.transaction() as session:
            row = session.execute(_LEASE_LEFT_SQL, {"id": message_id}).first()
        if row is None or row.status != Status.SENDING:
            return DeliveryResult(Outcome.SKIPPED)
        return DeliveryResult(Outcome.RETRY, retry_in_ms=int(row.ms) + 250)

    def _after_error(
        self, message_id: uuid.UUID, attempts: int, error: ProviderError
    ) -> DeliveryResult:
        info = ErrorInfo(error.error_code, error.title, error.details, error.fbtrace_id)
        if error.kind in (ErrorKind.PERMANENT, ErrorKind.CHANNEL_HALT):
            self._fail(message_id, info)
            return DeliveryResult(Outcome.FAILED, error=error)
        if attempts >= retry_budget(error.code, self.settings.wapipe_max_attempts):
            self._fail(message_id, info)
            return DeliveryResult(Outcome.FAILED, error=error)
        delay = self._backoff_ms(error, attempts)
        self._hold_until_retry(message_id, delay)
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

    def _hold_until_retry(self, message_id: uuid.UUID, delay_ms: int) -> None:
        # Keep the lease through the backoff, so a stray twin job cannot send early; the
        # scheduled retry finds it expired and claims the message again.
        with self.db.transaction() as session:
            session.execute(
                update(Message)
                .where(Message.id == message_id, Message.lease_owner == self.worker_id)
                .values(
                    lease_owner="backoff",
                    lease_expires_at=func.now() + timedelta(milliseconds=delay_ms),
                )
            )

    def _record_sent(self, message_id: uuid.UUID, wamid: str) -> None:
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

    def _fail(self, message_id: uuid.UUID, error: ErrorInfo) -> None:
        report = StatusReport(
            Status.FAILED,
            _now(),
            Source.WORKER,
            error=error,
            on_applied={"lease_owner": None, "lease_expires_at": None},
        )
        with self.db.transaction() as session:
            apply_status(session, message_id, report)


def _now() -> datetime:
    return datetime.now(UTC)

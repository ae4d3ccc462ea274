"""The sweeper: PostgreSQL is the source of truth, the queue only a hint.

Finds messages whose job was lost (the API died between commit and enqueue, a worker was
killed, Redis restarted empty) and enqueues them again. A duplicate job is harmless: the
claim lets one worker at a time send a message. Webhook deliveries need no job (the
workers' appliers read them from PostgreSQL); the sweeper applies those no applier took
within the grace period, so an operator's sweep works with no worker running.
"""

import logging
import uuid
from dataclasses import dataclass, field

from sqlalchemy import text

from db.session import Database
from pipeline.services.enqueue import enqueue_after_commit
from pipeline.services.idempotency import purge_idempotency_keys
from pipeline.services.ports import TaskQueue
from webhooks.service import apply_pending_deliveries

log = logging.getLogger("wapipe.sweeper")

# Messages owed a send whose job is overdue by the grace period, that no live worker holds
# and whose channel is not paused; only the first such message of each conversation (the
# rest follow it in order).
# SKIP LOCKED and the `enqueued_at` bump let several sweepers run without doubling work.
_DUE_MESSAGES_SQL = text("""
WITH due AS (
    SELECT m.id FROM messages m
    WHERE m.status = 'sending' AND m.deleted_at IS NULL
      AND m.enqueued_at < now() - make_interval(secs => :grace)
      AND NOT EXISTS (SELECT 1 FROM channels c
                      WHERE c.company_id = m.company_id AND c.paused_at IS NOT NULL)
      AND (m.lease_expires_at IS NULL OR m.lease_expires_at < now())
      AND NOT EXISTS (
          SELECT 1 FROM messages e
          WHERE e.conversation_id = m.conversation_id AND e.seq < m.seq
            AND e.status = 'sending' AND e.deleted_at IS NULL)
    ORDER BY m.enqueued_at
    LIMIT :batch
    FOR UPDATE OF m SKIP LOCKED
)
UPDATE messages SET enqueued_at = now() FROM due WHERE messages.id = due.id
RETURNING messages.id
""")


@dataclass
class SweepReport:
    messages: list[uuid.UUID] = field(default_factory=list)
    webhooks: list[int] = field(default_factory=list)
    enqueue_errors: int = 0
    expired_idempotency_keys: int = 0

    def __str__(self) -> str:
        return (
            f"re-enqueued {len(self.messages)} message(s); applied {len(self.webhooks)} "
            f"overdue webhook deliver{'y' if len(self.webhooks) == 1 else 'ies'}"
            + (f"; {self.enqueue_errors} enqueue error(s)" if self.enqueue_errors else "")
        )


def sweep(db: Database, queue: TaskQueue, grace_seconds: int, batch: int = 1000) -> SweepReport:
    """Re-enqueue every overdue message, once per grace; apply overdue webhook deliveries."""
    params = {"grace": grace_seconds, "batch": batch}
    with db.transaction() as session:
        messages = list(session.execute(_DUE_MESSAGES_SQL, params).scalars())
    report = SweepReport(messages, apply_pending_deliveries(db, batch, grace_seconds))
    # A broker still down: the bumped `enqueued_at` brings them back one grace later.
    report.enqueue_errors = enqueue_after_commit(queue, messages)
    # Housekeeping on the same beat: keys past their 24 hours answer nothing any more.
    report.expired_idempotency_keys = purge_idempotency_keys(db)
    if messages or report.webhooks:
        log.info("%s", report)
    return report

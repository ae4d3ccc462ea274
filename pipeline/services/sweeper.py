"""The sweep: PostgreSQL is the source of truth, the queue only a hint.

Finds messages owed a send that no job will deliver any more, and enqueues them again:
the API died between commit and enqueue, a worker was killed holding one, Redis restarted
empty. The elected leader among the workers sweeps every few seconds (workers/leader.py);
`wapipe sweep` does the same for an operator. Webhook deliveries need no job (the workers'
appliers read them from PostgreSQL); the sweep applies those no applier took within the
grace period, so an operator's sweep works with no worker running.

A message is enqueued again when its job is gone, not merely late: the sweep reads which
messages have a job in Redis (queued, delayed or taken by a worker) and enqueues only the
others, so it never doubles a job that is queued and needs no grace period to be sure.
Only when Redis cannot be read does it fall back to the grace period. A duplicate job
would be harmless anyway: the claim lets one worker at a time send a message.
"""

import logging
import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import text

from db.session import Database
from pipeline.services.enqueue import enqueue_by_channel
from pipeline.services.idempotency import purge_idempotency_keys
from pipeline.services.nodes import EXPIRE_DEAD_LEASES_SQL
from pipeline.services.owed import head_of_line
from pipeline.services.ports import ChannelPace, TaskQueue
from webhooks.apply import apply_recently_parked
from webhooks.service import apply_pending_deliveries

log = logging.getLogger("wapipe.sweeper")

# A job is handed to Redis just after its message commits: one younger than this may be
# on its way, so its absence from Redis proves nothing yet.
SETTLE_SECONDS = 5


class QueuedJobs(Protocol):
    def delivery_message_ids(self) -> Collection[uuid.UUID]:
        """Messages with a delivery job in the broker: queued, delayed or being worked on."""
        ...


# Messages owed a send that no live worker holds, whose channel is not paused and whose job
# is not in the broker (`queued`, read just before; or, when Redis cannot be read, whose job
# is overdue by the grace); only the first such message of each conversation (the rest
# follow it in order). They are marked enqueued in the same statement, so the only rows
# locked are the lost ones, and only while it runs: a backlog of queued messages is never
# locked, and the workers claiming it never wait for a sweep. SKIP LOCKED lets several
# sweeps run at once without doubling work.
_LOST_SQL = text(f"""
WITH lost AS (
    SELECT m.id FROM messages m JOIN channels c ON c.company_id = m.company_id
    WHERE m.status = 'sending' AND m.deleted_at IS NULL
      AND m.enqueued_at < now() - make_interval(secs => :settle)
      AND c.paused_at IS NULL
      AND (m.lease_expires_at IS NULL OR m.lease_expires_at < now())
      AND CASE WHEN :known THEN NOT (m.id = ANY(CAST(:queued AS uuid[])))
               ELSE m.enqueued_at < now() - make_interval(secs => :grace) END
      AND {head_of_line("m")} = m.id
    ORDER BY m.enqueued_at
    LIMIT :batch
    FOR UPDATE OF m SKIP LOCKED
)
UPDATE messages m SET enqueued_at = now()
FROM lost, channels c
WHERE m.id = lost.id AND c.company_id = m.company_id
RETURNING m.id, m.company_id, c.send_rate_mps AS rate
""")


@dataclass
class SweepReport:
    messages: list[uuid.UUID] = field(default_factory=list)
    webhooks: list[int] = field(default_factory=list)
    enqueue_errors: int = 0
    expired_idempotency_keys: int = 0
    # Messages whose worker node died holding them (part of `messages`).
    taken_over: int = 0
    # wamids whose parked statuses were applied: parked while their send was recorded.
    parked: int = 0

    def __str__(self) -> str:
        return (
            f"re-enqueued {len(self.messages)} message(s); applied {len(self.webhooks)} "
            f"overdue webhook deliver{'y' if len(self.webhooks) == 1 else 'ies'}"
            + (f"; {self.enqueue_errors} enqueue error(s)" if self.enqueue_errors else "")
            + (f"; applied statuses parked under {self.parked} wamid(s)" if self.parked else "")
        )


def sweep(
    db: Database,
    queue: TaskQueue,
    grace_seconds: int,
    batch: int = 1000,
    jobs: QueuedJobs | None = None,
    purge_keys: bool = False,
) -> SweepReport:
    """Enqueue every message whose job is gone (or, without `jobs`, overdue by the grace);
    hand dead nodes' messages on; apply overdue webhook deliveries. ``purge_keys`` (the
    operator's `wapipe sweep`) also deletes expired idempotency keys, which the leader's
    retention prune does every minute otherwise."""
    # A dead node's lease is given up at once, and its message enqueued even though its
    # job may come back from the dead worker's unacknowledged set later (a harmless twin).
    taken_over = _paced(db.run(EXPIRE_DEAD_LEASES_SQL))
    lost = _lost_messages(db, grace_seconds, batch, jobs)
    jobs_to_make = taken_over | lost
    messages = list(jobs_to_make)
    report = SweepReport(messages, apply_pending_deliveries(db, batch, grace_seconds))
    report.taken_over = len(taken_over)
    report.parked = apply_recently_parked(db)
    # Each channel's messages spread over its send slots: after a Redis wipe, a company's
    # whole backlog must not stand in front of another company's messages.
    # A broker still down: the bumped `enqueued_at` brings them back one sweep later.
    report.enqueue_errors = enqueue_by_channel(queue, jobs_to_make.items())
    if purge_keys:  # keys past their 24 hours answer nothing any more
        report.expired_idempotency_keys = purge_idempotency_keys(db)
    if messages or report.webhooks or report.parked:
        log.info("%s", report)
    return report


def _paced(rows: Iterable[Any]) -> dict[uuid.UUID, ChannelPace]:
    return {row.id: ChannelPace(row.company_id, row.rate) for row in rows}


def _lost_messages(
    db: Database, grace_seconds: int, batch: int, jobs: QueuedJobs | None
) -> dict[uuid.UUID, ChannelPace]:
    # Redis first, then PostgreSQL. A job acknowledged before the read has left its message
    # sent, failed, leased through a backoff, or behind another: not owed. A job enqueued
    # after the read belongs to a message younger than the settle time (or is a harmless
    # twin). So no row needs to stay locked while Redis is read.
    queued = _queued(jobs)
    params = {
        "known": queued is not None,
        "queued": list(queued or ()),
        "grace": grace_seconds,
        "settle": min(SETTLE_SECONDS, grace_seconds),
        "batch": batch,
    }
    with db.transaction() as session:
        return _paced(session.execute(_LOST_SQL, params))


def _queued(jobs: QueuedJobs | None) -> Collection[uuid.UUID] | None:
    if jobs is None:
        return None
    try:
        return jobs.delivery_message_ids()
    except Exception as error:  # Redis down or restarting: fall back to the grace period
        log.warning("cannot read the queued jobs (%s); sweeping by grace period only", error)
        return None

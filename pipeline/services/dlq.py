"""Dramatiq's dead letters: list them, and replay only what PostgreSQL says is still owed.

A job dies when its retries run out; the Retries middleware stores the previous failure's
``traceback`` in its options. Where Redis keeps dead letters is workers/queues.py's business.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dramatiq import Message as Job
from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Message, WebhookDelivery
from db.session import Database
from pipeline.domain.errors import NotFound, ValidationError
from pipeline.domain.statuses import Status
from pipeline.services.audit import (
    Operator,
    finish_action,
    record_message,
    start_action,
)
from pipeline.services.operations import RETRIED, retry_one
from pipeline.services.ports import TaskQueue
from workers.broker import QUEUES
from workers.queues import DeadLetter, RedisQueues

DELIVER, WEBHOOK = "deliver_message", "process_webhook"
# What a replay does with a dead job.
REQUEUE, RETRY, DROP, KEEP = "requeue", "retry", "drop", "keep"
MIN_PREFIX = 4


@dataclass(frozen=True, slots=True)
class DeadJob:
    job_id: str  # the job's Redis id
    queue: str
    message_id: str  # dramatiq's own id, the same across the job's retries
    actor: str
    args: list[Any]
    dead_at: datetime
    enqueued_at: datetime
    retries: int
    traceback: str | None
    letter: DeadLetter = field(repr=False)  # taken, and restored if a replay must undo it

    @property
    def target(self) -> str:
        return str(self.args[0]) if self.args else "-"

    @property
    def last_error(self) -> str | None:
        lines = [line.strip() for line in (self.traceback or "").splitlines() if line.strip()]
        return lines[-1] if lines else None

    def as_dict(self, traceback: bool = False) -> dict[str, Any]:
        data = {
            "job_id": self.job_id,
            "queue": self.queue,
            "message_id": self.message_id,
            "actor": self.actor,
            "args": self.args,
            "dead_at": self.dead_at.isoformat(),
            "enqueued_at": self.enqueued_at.isoformat(),
            "retries": self.retries,
            "last_error": self.last_error,
        }
        if traceback:
            data["traceback"] = self.traceback
        return data


@dataclass(frozen=True, slots=True)
class ReplayStep:
    job: DeadJob
    action: str
    why: str
    status: str | None = None


def _queues(queue: str | None) -> tuple[str, ...]:
    if queue is not None and queue not in QUEUES:
        raise ValidationError(f"unknown queue {queue!r}; known: {', '.join(QUEUES)}")
    return (queue,) if queue else QUEUES


def list_dead(broker: RedisBroker, queue: str | None = None) -> list[DeadJob]:
    """Every dead job (of one queue, or all), the most recent first."""
    queues = RedisQueues(broker)
    jobs = [_decode(letter) for name in _queues(queue) for letter in queues.dead_letters(name)]
    return sorted(jobs, key=lambda j: j.letter.died_at_ms, reverse=True)


def find_dead(broker: RedisBroker, job_ids: list[str], queue: str | None = None) -> list[DeadJob]:
    """The dead jobs named by id or unique prefix (at least 4 characters)."""
    jobs = list_dead(broker, queue)
    found: list[DeadJob] = []
    for wanted in dict.fromkeys(job_ids):
        if len(wanted) < MIN_PREFIX:
            raise ValidationError(f"job id {wanted!r}: give at least {MIN_PREFIX} characters")
        matches = [j for j in jobs if j.job_id.startswith(wanted)]
        if not matches:
            raise NotFound(f"no dead job {wanted}")
        if len(matches) > 1:
            raise ValidationError(f"job id {wanted!r} is ambiguous: give more characters")
        found.append(matches[0])
    return found


def _decode(letter: DeadLetter) -> DeadJob:
    job = Job.decode(letter.data)
    options = job.options or {}
    return DeadJob(
        job_id=letter.job_id,
        queue=letter.queue,
        message_id=job.message_id,
        actor=job.actor_name,
        args=list(job.args),
        dead_at=_from_ms(letter.died_at_ms),
        enqueued_at=_from_ms(job.message_timestamp),
        retries=int(options.get("retries", 0)),
        traceback=options.get("traceback"),
        letter=letter,
    )


def _from_ms(ms: float) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def plan_replay(db: Database, jobs: list[DeadJob], retry_failed: bool = False) -> list[ReplayStep]:
    """Decide each job from PostgreSQL, the source of truth: replay only what is still owed."""
    with db.transaction() as session:
        return [_decide(session, job, retry_failed) for job in jobs]


def _decide(session: Session, job: DeadJob, retry_failed: bool) -> ReplayStep:
    if job.actor == DELIVER:
        try:
            message_id = uuid.UUID(job.target)
        except ValueError:
            return ReplayStep(job, KEEP, "malformed: not a message id")
        row = session.execute(
            select(Message.status, Message.deleted_at).where(Message.id == message_id)
        ).first()
        if row is None:
            return ReplayStep(job, KEEP, "no such message")
        if row.deleted_at is not None:
            return ReplayStep(job, DROP, "message deleted", row.status)
        if row.status == Status.SENDING:
            return ReplayStep(job, REQUEUE, "still sending", row.status)
        if row.status == Status.FAILED:
            if retry_failed:
                return ReplayStep(job, RETRY, "failed: retry it", row.status)
            return ReplayStep(job, KEEP, "failed: needs --retry-failed", row.status)
        return ReplayStep(job, DROP, f"already {row.status}: not resent", row.status)
    if job.actor == WEBHOOK:
        if not isinstance(job.args[0] if job.args else None, int):
            return ReplayStep(job, KEEP, "malformed: not a delivery id")
        processed = session.execute(
            select(WebhookDelivery.processed_at).where(WebhookDelivery.id == job.args[0])
        ).first()
        if processed is None:
            return ReplayStep(job, KEEP, "no such webhook delivery")
        if processed.processed_at is not None:
            return ReplayStep(job, DROP, "already processed")
        # Webhooks are no longer jobs (a job left from an older version): the applier
        # takes every unprocessed delivery from PostgreSQL by itself.
        return ReplayStep(job, DROP, "not processed yet: the webhook applier takes it")
    return ReplayStep(job, KEEP, f"unknown actor {job.actor}")


def replay(
    db: Database,
    broker: RedisBroker,
    queue: TaskQueue,
    operator: Operator,
    steps: list[ReplayStep],
    on_each: Callable[[ReplayStep, str], None] | None = None,
) -> dict[str, Any]:
    """Carry out a replay plan; returns the audit id and each job's outcome.

    A job leaves the dead-letter queue before its replacement is enqueued, and only for the
    replayer whose ZREM removed it, so two concurrent replays enqueue it once. Even a stray
    duplicate could not send twice: a delivery job claims only a `sending` message, and a
    webhook job skips a processed delivery.
    """
    with db.transaction() as session:
        action_id = start_action(session, operator, "dlq.replay", {"jobs": len(steps)})
    letters = RedisQueues(broker)
    outcomes: list[dict[str, Any]] = []
    for step in steps:
        outcome = _carry_out(db, letters, queue, action_id, step)
        outcomes.append({"job_id": step.job.job_id, "target": step.job.target, "outcome": outcome})
        if on_each is not None:
            on_each(step, outcome)
    with db.transaction() as session:
        finish_action(session, action_id, {"outcomes": outcomes})
    return {"action_id": action_id, "jobs": outcomes}


def _carry_out(
    db: Database, letters: RedisQueues, queue: TaskQueue, action_id: int, step: ReplayStep
) -> str:
    if step.action == KEEP:
        return "kept"
    if not letters.take(step.job.letter):
        return "gone"  # replayed or purged by someone else meanwhile
    if step.action == DROP:
        _note(db, action_id, step, "dropped")
        return "dropped"
    try:
        if step.action == RETRY:
            message_id = uuid.UUID(step.job.target)
            with db.transaction() as session:
                outcome, status = retry_one(session, action_id, message_id)
            if outcome != RETRIED:
                return f"skipped: now {status}"
            queue.enqueue_delivery(message_id)
            return "retried"
        queue.enqueue_delivery(uuid.UUID(step.job.target))
        _note(db, action_id, step, "requeued")
        return "requeued"
    except Exception:
        letters.restore(step.job.letter)  # nothing is lost: it is a dead letter again
        raise


def _note(db: Database, action_id: int, step: ReplayStep, outcome: str) -> None:
    if step.job.actor == DELIVER:
        with db.transaction() as session:
            record_message(session, action_id, uuid.UUID(step.job.target), outcome, step.status)


def purge(db: Database, broker: RedisBroker, operator: Operator, jobs: list[DeadJob]) -> int:
    """Delete dead jobs for good; returns how many were still there."""
    listed = [{"job_id": j.job_id, "actor": j.actor, "target": j.target} for j in jobs]
    with db.transaction() as session:  # recorded first: a purge cannot be undone
        action_id = start_action(session, operator, "dlq.purge", {"jobs": listed})
    removed = RedisQueues(broker).purge(job.letter for job in jobs)
    with db.transaction() as session:
        finish_action(session, action_id, {"purged": removed})
    return removed

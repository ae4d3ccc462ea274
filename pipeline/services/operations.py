"""Operator actions that change the pipeline: retries, pauses and resumes; all audited."""

import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Channel, Company, Message
from db.session import Database
from pipeline.crypto import TokenCipher
from pipeline.domain.statuses import Source, Status
from pipeline.services.audit import (
    Operator,
    finish_action,
    record_action,
    record_message,
    start_action,
)
from pipeline.services.channels import (
    channel_paces,
    pause_channel,
    resume_channel,
    set_access_token,
    set_send_rate,
)
from pipeline.services.enqueue import enqueue_after_commit
from pipeline.services.inspection import MessageFilter
from pipeline.services.ports import TaskQueue
from pipeline.services.statuses import start_new_attempt

log = logging.getLogger("wapipe.operations")

RETRIED, SKIPPED = "retried", "skipped"
OnEach = Callable[[uuid.UUID, str, str | None], None]


@dataclass
class RetryPlan:
    """What a retry would do: the failed messages it would put back, and what it would skip."""

    ids: list[uuid.UUID] = field(default_factory=list)
    skipped: dict[uuid.UUID, str] = field(default_factory=dict)
    not_found: list[uuid.UUID] = field(default_factory=list)
    by_company: Counter[str] = field(default_factory=Counter)
    by_error: Counter[str] = field(default_factory=Counter)
    paused: set[str] = field(default_factory=set)
    companies: set[uuid.UUID] = field(default_factory=set)
    company_of: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "retry": [str(i) for i in self.ids],
            "skip": [{"id": str(i), "status": s} for i, s in self.skipped.items()],
            "not_found": [str(i) for i in self.not_found],
            "by_company": dict(self.by_company),
            "by_error": dict(self.by_error),
            "paused_companies": sorted(self.paused),
        }


@dataclass
class RetryResult:
    action_id: int
    retried: list[uuid.UUID] = field(default_factory=list)
    skipped: dict[uuid.UUID, str] = field(default_factory=dict)
    not_found: list[uuid.UUID] = field(default_factory=list)
    enqueue_errors: int = 0

    def counts(self) -> dict[str, int]:
        return {
            "retried": len(self.retried),
            "skipped": len(self.skipped),
            "not_found": len(self.not_found),
            "enqueue_errors": self.enqueue_errors,
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "action_id": self.action_id,
            "retried": [str(i) for i in self.retried],
            "skipped": [{"id": str(i), "status": s} for i, s in self.skipped.items()],
            "not_found": [str(i) for i in self.not_found],
            **self.counts(),
        }


_PLAN_COLUMNS = (
    Message.id,
    Message.status,
    Message.deleted_at,
    Message.error_code,
    Message.company_id,
    Company.name,
    Channel.paused_at,
)


def plan_retry(
    db: Database, ids: list[uuid.UUID] | None = None, where: MessageFilter | None = None
) -> RetryPlan:
    """Which of ``ids`` (or the failed messages matching ``where``) a retry would put back."""
    query = (
        select(*_PLAN_COLUMNS)
        .join(Company, Company.id == Message.company_id)
        .outerjoin(Channel, Channel.company_id == Message.company_id)
        .order_by(Message.seq)  # intake order, so each conversation keeps its order
    )
    if ids is not None:
        query = query.where(Message.id.in_(ids))
    else:
        query = (where or MessageFilter()).apply(query.where(Message.status == Status.FAILED))
    plan = RetryPlan()
    with db.transaction() as session:
        rows = session.execute(query).all()
    for row in rows:
        if row.deleted_at is not None or row.status != Status.FAILED:
            plan.skipped[row.id] = "deleted" if row.deleted_at is not None else row.status
            continue
        plan.ids.append(row.id)
        plan.by_company[row.name] += 1
        plan.companies.add(row.company_id)
        plan.company_of[row.id] = row.company_id
        plan.by_error[row.error_code or "-"] += 1
        if row.paused_at is not None:
            plan.paused.add(row.name)
    found = {row.id for row in rows}
    plan.not_found = [i for i in dict.fromkeys(ids or []) if i not in found]
    return plan


def retry_messages(
    db: Database,
    queue: TaskQueue,
    operator: Operator,
    plan: RetryPlan,
    *,
    rate: float | None = None,
    details: dict[str, Any] | None = None,
    on_each: OnEach | None = None,
) -> RetryResult:
    """Put each planned message back to `sending` (once, whoever else retries it) and
    enqueue it after its commit, at most ``rate`` per second; recorded in the audit trail."""
    # An action on one company's messages is filed under that company.
    company_id = next(iter(plan.companies)) if len(plan.companies) == 1 else None
    with db.transaction() as session:
        action_id = start_action(
            session,
            operator,
            "messages.retry",
            (details or {}) | {"planned": len(plan.ids)},
            company_id,
        )
        for message_id, found in plan.skipped.items():
            record_message(session, action_id, message_id, SKIPPED, found)
    result = RetryResult(action_id, skipped=dict(plan.skipped), not_found=list(plan.not_found))
    channels = channel_paces(db, plan.companies)
    pace = _Pace(rate)
    for message_id in plan.ids:
        pace.wait()
        with db.transaction() as session:
            outcome, status = retry_one(session, action_id, message_id)
        if outcome == RETRIED:
            result.retried.append(message_id)
            channel = channels.get(plan.company_of[message_id])
            result.enqueue_errors += enqueue_after_commit(queue, [message_id], channel)
        else:
            result.skipped[message_id] = status or "-"
        if on_each is not None:
            on_each(message_id, outcome, status)
    with db.transaction() as session:
        finish_action(session, action_id, result.counts())
    return result


def retry_one(session: Session, action_id: int, message_id: uuid.UUID) -> tuple[str, str | None]:
    """Retry one message in the caller's transaction; (outcome, the status it was found in).

    The row lock taken here is held until the commit, so of two concurrent retries (two
    operators, or an operator and the API) exactly one finds the message failed; the other
    sees `sending` and skips it, without a history entry that changed nothing.
    """
    row = session.execute(
        select(Message.status, Message.deleted_at).where(Message.id == message_id).with_for_update()
    ).first()
    if row is None:
        return SKIPPED, None
    found = "deleted" if row.deleted_at is not None else row.status
    if found != Status.FAILED:
        record_message(session, action_id, message_id, SKIPPED, found)
        return SKIPPED, found
    detail = {"operator_action": action_id}
    decision = start_new_attempt(session, message_id, Source.OPERATOR, detail)
    outcome = RETRIED if decision is not None and decision.applied else SKIPPED
    record_message(session, action_id, message_id, outcome, found)
    return outcome, found


class _Pace:
    """Spaces calls ``1/rate`` seconds apart (no bursts), or not at all without a rate."""

    def __init__(self, rate: float | None) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self.next_at = time.monotonic()

    def wait(self) -> None:
        if not self.interval:
            return
        delay = self.next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self.next_at = max(self.next_at, time.monotonic()) + self.interval


def pause(db: Database, operator: Operator, company_id: uuid.UUID) -> int:
    """Pause a company's channel (Conflict if paused already); returns the audit id."""
    pause_channel(db, company_id, operator.reason or f"paused by {operator.actor}")
    # Its own transaction after the pause: the pause service owns its transaction.
    return record_action(db, operator, "channels.pause", {}, company_id)


def set_token(
    db: Database,
    operator: Operator,
    company_id: uuid.UUID,
    token: str,
    cipher: TokenCipher | None = None,
) -> int:
    """Replace a channel's access token; the audit records that it changed, never the token."""
    set_access_token(db, company_id, token, cipher)
    return record_action(db, operator, "channels.set_token", {}, company_id)


def set_rate(db: Database, operator: Operator, company_id: uuid.UUID, rate_mps: int) -> int:
    """Change a channel's send rate (messages a second); returns the audit id."""
    before = set_send_rate(db, company_id, rate_mps)
    details = {"from_mps": before, "to_mps": rate_mps}
    return record_action(db, operator, "channels.set_rate", details, company_id)


def resume(
    db: Database, queue: TaskQueue, operator: Operator, company_id: uuid.UUID
) -> tuple[int, int]:
    """Resume a paused channel and start its waiting conversations: (started, audit id)."""
    with db.transaction() as session:
        was = session.execute(
            select(Channel.paused_at, Channel.pause_code, Channel.pause_reason).where(
                Channel.company_id == company_id
            )
        ).first()
    started = resume_channel(db, queue, company_id)
    paused = {"paused_at": str(was.paused_at), "code": was.pause_code} if was else {}
    details = {"started": started, "was": paused}
    return started, record_action(db, operator, "channels.resume", details, company_id)

"""Applying a reported status to a message: the only code that changes a message's status."""

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.orm import Session

from db.models import Message, MessageStatusEvent
from pipeline.domain.statuses import Decision, Source, Status, decide

# Each provider-reported status keeps its own timestamp, whatever the current status is, so
# the same set of events gives the same timestamps in any order (the earliest report wins).
TIMESTAMP_COLUMN: dict[Status, str] = {
    Status.SENT: "sent_at",
    Status.DELIVERED: "delivered_at",
    Status.READ: "read_at",
    Status.FAILED: "failed_at",
}


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    code: str
    title: str
    details: str | None = None
    fbtrace_id: str | None = None


@dataclass(frozen=True, slots=True)
class StatusReport:
    """One report of a status for one message, from one source."""

    status: Status
    at: datetime
    source: Source
    error: ErrorInfo | None = None
    detail: dict[str, Any] | None = None
    # Columns set only when the report moves the message (e.g. a retry clearing the error).
    on_applied: dict[str, Any] = field(default_factory=dict)


def lock_wamid(session: Session, wamid: str) -> None:
    """Serialise everyone who records or looks up ``wamid`` in this transaction.

    Without it a status for an unknown wamid could be parked as pending at the very moment
    the worker records that wamid, and neither would see the other.
    """
    session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:w, 0))"), {"w": wamid})


def apply_status(session: Session, message_id: uuid.UUID, report: StatusReport) -> Decision | None:
    """Apply ``report`` to the message under a row lock; None if there is no such message."""
    row = session.execute(
        select(Message.status, Message.sent_at, Message.delivered_at, Message.read_at)
        .add_columns(Message.failed_at)
        .where(Message.id == message_id)
        .with_for_update()
    ).first()
    if row is None:
        return None
    decision = decide(Status(row.status), report.status, report.source)
    values: dict[str, Any] = {}
    column = TIMESTAMP_COLUMN.get(report.status)
    earliest = column is not None and _is_earlier(report.at, getattr(row, column))
    if column is not None and earliest:
        values[column] = report.at
    if report.error is not None and (earliest or decision.applied):
        values.update(
            error_code=report.error.code,
            error_title=report.error.title,
            error_details=report.error.details,
            fbtrace_id=report.error.fbtrace_id,
        )
    if decision.applied:
        values["status"] = decision.status.value
        values.update(report.on_applied)
    if values:
        values["updated_at"] = func.now()
        session.execute(update(Message).where(Message.id == message_id).values(**values))
    record_history(session, message_id, report, decision.applied)
    return decision


def record_history(
    session: Session, message_id: uuid.UUID, report: StatusReport, applied: bool
) -> None:
    detail = dict(report.detail or {})
    if report.error is not None:
        detail["error"] = {"code": report.error.code, "title": report.error.title}
    session.execute(
        insert(MessageStatusEvent).values(
            message_id=message_id,
            status=report.status.value,
            source=report.source.value,
            applied=applied,
            at=report.at,
            detail=detail or None,
        )
    )


def _is_earlier(at: datetime, current: datetime | None) -> bool:
    return current is None or at < current

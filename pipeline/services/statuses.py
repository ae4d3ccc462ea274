"""Applying a reported status to a message: the only code that changes a message's status."""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, func, insert, select, update
from sqlalchemy.orm import Session

from db.models import Message, MessageStatusEvent, table_of
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
    # Columns set whatever the decision (e.g. the worker's wamid and the end of its lease).
    always: dict[str, Any] = field(default_factory=dict)


# Core tables, not ORM entities: these statements run several times per message.
_messages = table_of(Message)
_history = table_of(MessageStatusEvent)


def apply_status(
    session: Session,
    message_id: uuid.UUID,
    report: StatusReport,
    *,
    also: Sequence[Insert] = (),
) -> Decision | None:
    """Apply ``report`` to the message under a row lock; None if there is no such message.

    ``also`` are inserts written in the same statement as the change.
    """
    c = _messages.c
    columns: list[Any] = [c.status, *(c[name] for name in TIMESTAMP_COLUMN.values())]
    row = session.execute(select(*columns).where(c.id == message_id).with_for_update()).first()
    if row is None:
        return None
    decision, values = plan_status(dict(row._mapping), report)
    history = _history_insert(message_id, report, decision.applied)
    for number, statement in enumerate(also):
        history = history.add_cte(statement.cte(f"also_{number}"))
    if values:
        # The change and its history row in one round trip (a data-modifying CTE).
        values["updated_at"] = func.now()
        change = update(_messages).where(c.id == message_id).values(**values)
        history = history.add_cte(change.returning(c.id).cte("changed"))
    session.execute(history)
    return decision


def plan_status(
    current: Mapping[str, Any], report: StatusReport
) -> tuple[Decision, dict[str, Any]]:
    """The decision for ``report`` and the columns it changes, given the message's current
    ``status`` and per-status timestamps: the one rule, shared by single and batch updates."""
    decision = decide(Status(current["status"]), report.status, report.source)
    values: dict[str, Any] = dict(report.always)
    column = TIMESTAMP_COLUMN.get(report.status)
    earliest = column is not None and _is_earlier(report.at, current[column])
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
    return decision, values


def history_row(message_id: uuid.UUID, report: StatusReport, applied: bool) -> dict[str, Any]:
    """The history entry of one report, as column values."""
    detail = dict(report.detail or {})
    if report.error is not None:
        detail["error"] = {"code": report.error.code, "title": report.error.title}
    return {
        "message_id": message_id,
        "status": report.status.value,
        "source": report.source.value,
        "applied": applied,
        "at": report.at,
        "detail": detail or None,
    }


def _history_insert(message_id: uuid.UUID, report: StatusReport, applied: bool) -> Insert:
    return insert(_history).values(**history_row(message_id, report, applied))


def _is_earlier(at: datetime, current: datetime | None) -> bool:
    return current is None or at < current

"""Applying a reported status to a message: the only code that changes a message's status."""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Insert, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from db.models import Message, MessageStatusEvent, RetiredWamid, table_of
from pipeline.domain.statuses import Decision, Source, Status, decide
from pipeline.services.events import message_event_from, snapshot_returning_columns

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
_retired = table_of(RetiredWamid)


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
        changed = change.returning(*snapshot_returning_columns()).cte("changed")
        history = history.add_cte(changed)
        if decision.applied:  # the outbox: its event in the same statement
            history = history.add_cte(message_event_from(changed).cte("event"))
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
        # Every failure is kept whole here: the message's own error fields are cleared by
        # a retry, the history is not.
        detail["error"] = {
            "code": report.error.code,
            "title": report.error.title,
            "details": report.error.details,
            "fbtrace_id": report.error.fbtrace_id,
        }
    return {
        "message_id": message_id,
        "status": report.status.value,
        "source": report.source.value,
        "applied": applied,
        "at": report.at,
        "detail": detail or None,
    }


# What a round of delivery leaves on the message, moved into the history by a retry.
_ATTEMPT_COLUMNS = (
    "provider_message_id",
    *TIMESTAMP_COLUMN.values(),
    "error_code",
    "error_title",
    "error_details",
    "fbtrace_id",
)

# A retry starts a new round: a fresh attempt budget (the attempts so far go on counting in
# `earlier_attempts`), no wamid, no per-status times, no error, no lease.
_NEW_ROUND = {
    "attempts": 0,
    "earlier_attempts": _messages.c.earlier_attempts + _messages.c.attempts,
    **dict.fromkeys(_ATTEMPT_COLUMNS),
    "lease_owner": None,
    "lease_expires_at": None,
    "queued_at": func.now(),
    "enqueued_at": func.now(),
    "updated_at": func.now(),
}


def start_new_attempt(
    session: Session,
    message_id: uuid.UUID,
    source: Source,
    detail: dict[str, Any] | None = None,
) -> Decision | None:
    """Retry a message: back to `sending` as a new round, if the state machine allows it.

    The previous round's wamid, per-status times and error move into the history entry of
    the retry, and its wamid is retired: a late status carrying it is recorded but never
    moves the message (webhooks/apply.py). None if there is no such message.
    """
    c = _messages.c
    row = session.execute(
        select(c.status, *(c[name] for name in _ATTEMPT_COLUMNS))
        .where(c.id == message_id)
        .with_for_update()
    ).first()
    if row is None:
        return None
    current = dict(row._mapping)
    previous = {
        name: value.isoformat() if isinstance(value, datetime) else value
        for name, value in current.items()
        if name != "status" and value is not None
    }
    report = StatusReport(
        Status.SENDING,
        at=datetime.now(UTC),
        source=source,
        detail=(detail or {}) | ({"previous_attempt": previous} if previous else {}),
    )
    decision, _ = plan_status(current, report)
    if decision.applied:
        change = (
            update(_messages)
            .where(c.id == message_id)
            .values(status=decision.status.value, **_NEW_ROUND)
            .returning(*snapshot_returning_columns())
            .cte("changed")
        )
        session.execute(message_event_from(change).add_cte(change))
        if current["provider_message_id"] is not None:
            retire = {"wamid": current["provider_message_id"], "message_id": message_id}
            session.execute(pg_insert(_retired).values(**retire).on_conflict_do_nothing())
    session.execute(_history_insert(message_id, report, decision.applied))
    return decision


def _history_insert(message_id: uuid.UUID, report: StatusReport, applied: bool) -> Insert:
    return insert(_history).values(**history_row(message_id, report, applied))


def _is_earlier(at: datetime, current: datetime | None) -> bool:
    return current is None or at < current

"""The audit trail of operator actions: who did what, when, why, and to which messages."""

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import cast, func, insert, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from db.models import Company, OperatorAction, OperatorActionMessage
from db.session import Database
from pipeline.domain.errors import NotFound, ValidationError

MAX_ACTOR = 128


@dataclass(frozen=True, slots=True)
class Operator:
    """The person (or script) acting, and why."""

    actor: str
    reason: str | None = None

    def __post_init__(self) -> None:
        if not self.actor.strip() or len(self.actor) > MAX_ACTOR:
            raise ValidationError(f"the actor must be 1 to {MAX_ACTOR} characters")


@dataclass(frozen=True, slots=True)
class ActionView:
    id: int
    at: datetime
    finished_at: datetime | None
    actor: str
    action: str
    reason: str | None
    company_id: uuid.UUID | None
    details: dict[str, Any]
    company: str | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "actor": self.actor,
            "action": self.action,
            "reason": self.reason,
            "company_id": str(self.company_id) if self.company_id else None,
            "company": self.company,
            "details": self.details,
            "messages": self.messages,
        }


def start_action(
    session: Session,
    operator: Operator,
    action: str,
    details: dict[str, Any] | None = None,
    company_id: uuid.UUID | None = None,
) -> int:
    """Record that an action began, in the caller's transaction; returns its id."""
    action_id: int = session.execute(
        insert(OperatorAction)
        .values(
            actor=operator.actor,
            action=action,
            reason=operator.reason,
            company_id=company_id,
            details=details,
        )
        .returning(OperatorAction.id)
    ).scalar_one()
    return action_id


def finish_action(session: Session, action_id: int, result: dict[str, Any]) -> None:
    """Mark an action done and merge its result into its details."""
    session.execute(
        update(OperatorAction)
        .where(OperatorAction.id == action_id)
        .values(
            finished_at=func.now(),
            details=func.coalesce(OperatorAction.details, cast({}, JSONB)).op("||")(
                cast(result, JSONB)
            ),
        )
    )


def record_action(
    db: Database,
    operator: Operator,
    action: str,
    details: dict[str, Any],
    company_id: uuid.UUID | None = None,
) -> int:
    """Record a finished one-step action (a pause, a resume, a purge)."""
    with db.transaction() as session:
        return record_action_in(session, operator, action, details, company_id)


def record_action_in(
    session: Session,
    operator: Operator,
    action: str,
    details: dict[str, Any],
    company_id: uuid.UUID | None = None,
    result: dict[str, Any] | None = None,
) -> int:
    """Record a finished one-step action in the caller's transaction, the one that makes the
    change: both are committed, or neither. ``result`` is merged into its details."""
    action_id = start_action(session, operator, action, details, company_id)
    finish_action(session, action_id, result or {})
    return action_id


def record_message(
    session: Session, action_id: int, message_id: uuid.UUID, outcome: str, status: str | None
) -> None:
    """Note that an action touched a message, in the same transaction as the change itself.

    The first note per (action, message) stands: two dead jobs of one message are one entry.
    """
    session.execute(
        pg_insert(OperatorActionMessage)
        .values(action_id=action_id, message_id=message_id, outcome=outcome, status=status)
        .on_conflict_do_nothing()
    )


def list_actions(
    db: Database,
    *,
    actor: str | None = None,
    action: str | None = None,
    company_id: uuid.UUID | None = None,
    message_id: uuid.UUID | None = None,
    since: datetime | None = None,
    limit: int = 50,
) -> list[ActionView]:
    """The newest actions first, narrowed by any of the filters."""
    query = (
        select(OperatorAction, Company.name)
        .outerjoin(Company, Company.id == OperatorAction.company_id)
        .order_by(OperatorAction.id.desc())
        .limit(limit)
    )
    if actor is not None:
        query = query.where(OperatorAction.actor == actor)
    if action is not None:
        query = query.where(OperatorAction.action == action)
    if company_id is not None:
        query = query.where(OperatorAction.company_id == company_id)
    if since is not None:
        query = query.where(OperatorAction.at >= since)
    if message_id is not None:
        touched = select(OperatorActionMessage.action_id).where(
            OperatorActionMessage.message_id == message_id
        )
        query = query.where(OperatorAction.id.in_(touched))
    with db.transaction() as session:
        return [_view(action, company) for action, company in session.execute(query)]


def get_action(db: Database, action_id: int) -> ActionView:
    """One action with every message it touched; NotFound if there is none."""
    with db.transaction() as session:
        row = session.get(OperatorAction, action_id)
        if row is None:
            raise NotFound(f"no operator action {action_id}")
        company = session.scalar(select(Company.name).where(Company.id == row.company_id))
        touched = session.execute(
            select(
                OperatorActionMessage.message_id,
                OperatorActionMessage.outcome,
                OperatorActionMessage.status,
            )
            .where(OperatorActionMessage.action_id == action_id)
            .order_by(OperatorActionMessage.outcome, OperatorActionMessage.message_id)
        ).all()
        view = _view(row, company)
    view.messages.extend(
        {"id": str(m.message_id), "outcome": m.outcome, "status": m.status} for m in touched
    )
    return view


def actions_for_message(session: Session, message_id: uuid.UUID) -> list[dict[str, Any]]:
    """Every operator action that touched a message, oldest first."""
    rows = session.execute(
        select(
            OperatorAction.id,
            OperatorAction.at,
            OperatorAction.actor,
            OperatorAction.action,
            OperatorAction.reason,
            OperatorActionMessage.outcome,
        )
        .join(OperatorActionMessage, OperatorActionMessage.action_id == OperatorAction.id)
        .where(OperatorActionMessage.message_id == message_id)
        .order_by(OperatorAction.id)
    ).all()
    return [dict(row._mapping) for row in rows]


def _view(row: OperatorAction, company: str | None) -> ActionView:
    return ActionView(
        id=row.id,
        at=row.at,
        finished_at=row.finished_at,
        actor=row.actor,
        action=row.action,
        reason=row.reason,
        company_id=row.company_id,
        details=dict(row.details or {}),
        company=company,
    )

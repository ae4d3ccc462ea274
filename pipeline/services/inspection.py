"""What an operator asks first: which messages match, and the whole story of one."""

import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, TypeVarTuple

from sqlalchemy import Select, select, text
from sqlalchemy.orm import Session

from db.models import Company, DeliveryAttempt, Message
from db.session import Database
from pipeline.domain.errors import NotFound, ValidationError
from pipeline.domain.phones import InvalidPhoneNumber, normalize_phone
from pipeline.domain.statuses import Status
from pipeline.provider.errors import ErrorKind, classify_code
from pipeline.services.audit import actions_for_message
from pipeline.services.messages import message_view, status_history

Ts = TypeVarTuple("Ts")


@dataclass(frozen=True, slots=True)
class MessageFilter:
    """Which outbound messages an operator means; every field narrows the match."""

    status: str | None = None
    company_id: uuid.UUID | None = None
    error_code: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    to: str | None = None
    limit: int | None = None

    def __post_init__(self) -> None:
        if self.status is not None and self.status not in set(Status):
            raise ValidationError(f"unknown status {self.status!r}")
        if self.to is not None:
            try:
                object.__setattr__(self, "to", normalize_phone(self.to))
            except InvalidPhoneNumber as exc:
                raise ValidationError(f"--to {exc}") from None
        if self.limit is not None and self.limit < 1:
            raise ValidationError("the limit must be at least 1")

    def as_dict(self) -> dict[str, Any]:
        return {k: str(v) if v is not None else None for k, v in asdict(self).items()}

    def apply(self, query: Select[*Ts]) -> Select[*Ts]:
        query = query.where(Message.direction == "outbound", Message.deleted_at.is_(None))
        if self.status is not None:
            query = query.where(Message.status == self.status)
        if self.company_id is not None:
            query = query.where(Message.company_id == self.company_id)
        if self.error_code is not None:
            query = query.where(Message.error_code == self.error_code)
        if self.since is not None:
            query = query.where(Message.created_at >= self.since)
        if self.until is not None:
            query = query.where(Message.created_at < self.until)
        if self.to is not None:
            query = query.where(Message.to_phone == self.to)
        if self.limit is not None:
            query = query.limit(self.limit)
        return query


@dataclass(frozen=True, slots=True)
class MessageRow:
    id: uuid.UUID
    company_id: uuid.UUID
    company: str
    to: str
    status: str
    error_code: str | None
    error_title: str | None
    attempts: int
    created_at: datetime
    updated_at: datetime

    def as_dict(self) -> dict[str, Any]:
        row = asdict(self)
        row.update(
            id=str(self.id),
            company_id=str(self.company_id),
            created_at=self.created_at.isoformat(),
            updated_at=self.updated_at.isoformat(),
        )
        return row


def find_messages(db: Database, where: MessageFilter) -> list[MessageRow]:
    """Outbound messages matching ``where``, newest first."""
    query = (
        select(
            Message.id,
            Message.company_id,
            Company.name.label("company"),
            Message.to_phone.label("to"),
            Message.status,
            Message.error_code,
            Message.error_title,
            # Over the message's life, retries included (as `messages show` counts them).
            (Message.earlier_attempts + Message.attempts).label("attempts"),
            Message.created_at,
            Message.updated_at,
        )
        .join(Company, Company.id == Message.company_id)
        .order_by(Message.seq.desc())
    )
    with db.transaction() as session:
        return [MessageRow(**row._asdict()) for row in session.execute(where.apply(query))]


# Why a `sending` message has not gone out: the first reason that holds is the answer.
_WAITING_SQL = text("""
SELECT c.paused_at, c.pause_code, c.pause_reason, m.lease_owner, m.lease_expires_at,
       m.lease_expires_at > now() AS leased, m.enqueued_at,
       (SELECT e.id FROM messages e
         WHERE e.conversation_id = m.conversation_id AND e.seq < m.seq
           AND e.status = 'sending' AND e.deleted_at IS NULL
         ORDER BY e.seq LIMIT 1) AS behind
FROM messages m JOIN channels c ON c.company_id = m.company_id
WHERE m.id = :id
""")


def message_story(db: Database, message_id: uuid.UUID) -> dict[str, Any]:
    """Everything about one message: status changes, attempts, operator actions, advice."""
    with db.transaction() as session:
        message = session.get(Message, message_id)
        if message is None:
            raise NotFound(f"no message {message_id}")
        company = session.scalar(select(Company.name).where(Company.id == message.company_id))
        story = message_view(message) | {
            "company_id": str(message.company_id),
            "company": company,
            "fbtrace_id": message.fbtrace_id,
            "ambiguous_resends": message.ambiguous_resends,
            "queued_at": message.queued_at.isoformat(),
            # Attempts over the message's life; `attempts` is the current round's (its
            # budget), reset by a retry.
            "attempts_total": message.earlier_attempts + message.attempts,
            "history": status_history(session, message_id, with_detail=True),
            "attempts_log": _attempts(session, message_id),
            "operator_actions": [
                a | {"at": a["at"].isoformat()} for a in actions_for_message(session, message_id)
            ],
            "waiting": _waiting(session, message) if message.status == Status.SENDING else None,
        }
    story["earlier_rounds"] = earlier_rounds(story["history"])
    story["advice"] = advice(story)
    return story


def earlier_rounds(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What each retry moved out of the message: the round's wamid, per-status times and
    error (the provider's code, title, details and fbtrace_id), oldest first."""
    return [
        {"retried_at": h["at"]} | h["detail"]["previous_attempt"]
        for h in history
        if h["applied"]
        and h["status"] == Status.SENDING
        and "previous_attempt" in (h["detail"] or {})
    ]


def _attempts(session: Session, message_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(DeliveryAttempt)
        .where(DeliveryAttempt.message_id == message_id)
        .order_by(DeliveryAttempt.id)
    )
    return [
        {
            "attempt": a.attempt,
            "outcome": a.outcome,
            "error_code": a.error_code,
            "error_title": a.error_title,
            "http_status": a.http_status,
            "fbtrace_id": a.fbtrace_id,
            "worker": a.worker,
            "started_at": a.started_at.isoformat(),
            "finished_at": a.finished_at.isoformat(),
        }
        for a in rows
    ]


def _waiting(session: Session, message: Message) -> dict[str, Any]:
    row = session.execute(_WAITING_SQL, {"id": message.id}).first()
    if row is None:  # no channel row: nothing can send it
        return {"reason": "no_channel"}
    if row.paused_at is not None:
        return {
            "reason": "channel_paused",
            "since": row.paused_at.isoformat(),
            "code": row.pause_code,
            "detail": row.pause_reason,
        }
    if row.behind is not None:
        return {"reason": "behind_earlier_message", "message_id": str(row.behind)}
    if row.leased:
        return {
            "reason": "in_flight" if row.lease_owner not in ("backoff", "ambiguous") else "backoff",
            "holder": row.lease_owner,
            "until": row.lease_expires_at.isoformat(),
        }
    return {"reason": "queued", "due": row.enqueued_at.isoformat()}


_WAITING_ADVICE = {
    "channel_paused": "its channel is paused; `wapipe channels resume` sends it",
    "behind_earlier_message": "it waits for an earlier message to the same contact",
    "in_flight": "a worker is sending it now",
    "backoff": "it waits to be tried again after a transient error",
    "queued": "it waits for a worker; the sweeper re-enqueues it if its job was lost",
    "no_channel": "its company has no channel: nothing can send it",
}


def advice(story: dict[str, Any]) -> str:
    """One sentence on what to do next, and whether a retry is safe."""
    status = story["status"]
    if status == Status.SENDING:
        return str(_WAITING_ADVICE[story["waiting"]["reason"]])
    if status != Status.FAILED:
        return "nothing to do: the provider accepted it"
    error = story["error"] or {}
    code = error.get("code")
    parts = []
    if story["provider_message_id"]:
        parts.append("the provider accepted it before it failed: a retry sends a new copy")
    elif story["ambiguous_resends"]:
        parts.append("an earlier send may have reached the provider: a retry may duplicate it")
    else:
        parts.append("the provider never accepted it: a retry sends it once")
    if code == "131047":
        parts.append("but free text needs an open 24 h window (use a template)")
    elif code in ("expired", "cancelled"):
        parts.append(f"it was {code}; retry only if it is still wanted")
    elif code is not None and code.isdigit():
        kind = classify_code(int(code))
        if kind is ErrorKind.PERMANENT:
            parts.append(f"but {code} is permanent: fix the cause first")
        else:
            parts.append(f"and {code} is {kind.value}: a retry is likely to work")
    return "; ".join(parts)

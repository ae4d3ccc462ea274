"""Accepting a message: one transaction, then a hint to the queue."""

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Channel, Message
from db.session import Database
from pipeline.domain.errors import Conflict, NotFound, WindowClosed
from pipeline.domain.statuses import Source, Status
from pipeline.faults import crash_point
from pipeline.observability.logs import Timings
from pipeline.observability.metrics import MESSAGES_ACCEPTED, count
from pipeline.observability.tracing import span
from pipeline.services.enqueue import enqueue_after_commit
from pipeline.services.idempotency import IdempotentRequest, Reply, reply, run_once
from pipeline.services.message_request import SendMessageRequest
from pipeline.services.ports import ChannelPace, TaskQueue
from pipeline.services.statuses import start_new_attempt
from pipeline.services.templates import check_template
from pipeline.services.tenants import Principal

log = logging.getLogger("wapipe.intake")

PREVIEW_LENGTH = 120


@dataclass(frozen=True, slots=True)
class Accepted:
    id: uuid.UUID
    conversation_id: uuid.UUID
    contact_id: uuid.UUID
    created_contact: bool
    created_conversation: bool
    # The conversation's 24-hour customer service window (the customer wrote within it).
    window_open: bool
    status: str = Status.SENDING.value

    def body(self) -> dict[str, Any]:
        """The 202's body. Not dataclasses.asdict: it deep-copies every UUID, a twentieth of
        the intake's CPU."""
        return {
            "id": self.id,
            "conversation_id": self.conversation_id,
            "contact_id": self.contact_id,
            "created_contact": self.created_contact,
            "created_conversation": self.created_conversation,
            "window_open": self.window_open,
            "status": self.status,
        }


# One round trip: ensure the contact and the conversation (ON CONFLICT instead of
# read-then-write, so concurrent first messages to a phone converge on one row without a
# unique violation), insert the message and its first history entry, and point the
# conversation at it. `xmax = 0` is true only for a row this statement inserted.
# `gate` applies the company's window policy first: under `enforce`, a message that needs
# the 24-hour window to a conversation whose window is closed writes nothing at all (no
# row comes back). Its probes are by primary and unique keys (the window's only under
# `enforce`: under `off` PostgreSQL never runs them): no extra round trip.
_INTAKE_SQL = """
WITH gate AS (
    SELECT 1 FROM companies co
    WHERE co.id = %(company_id)s
      AND (co.window_policy = 'off' OR NOT %(needs_window)s OR EXISTS (
          SELECT 1 FROM conversations cv
          WHERE cv.company_id = %(company_id)s
            AND cv.contact_id = (SELECT ct.id FROM contacts ct
                                 WHERE ct.company_id = %(company_id)s AND ct.phone = %(phone)s)
            AND cv.last_inbound_at > now() - interval '24 hours'))
), contact AS (
    INSERT INTO contacts (id, company_id, phone)
    SELECT %(contact_id)s, %(company_id)s, %(phone)s FROM gate
    ON CONFLICT (company_id, phone) DO UPDATE SET phone = EXCLUDED.phone
    RETURNING id, (xmax = 0) AS created
), conversation AS (
    INSERT INTO conversations (id, company_id, contact_id, last_message_id,
                               last_message_preview, last_message_at, updated_at, created_by)
    SELECT %(conversation_id)s, %(company_id)s, contact.id, %(message_id)s, %(preview)s,
           now(), now(), %(user_id)s
    FROM contact
    ON CONFLICT (company_id, contact_id) DO UPDATE SET
        last_message_id = EXCLUDED.last_message_id,
        last_message_preview = EXCLUDED.last_message_preview,
        last_message_at = EXCLUDED.last_message_at,
        updated_at = EXCLUDED.updated_at,
        deleted_at = NULL
    RETURNING id, (xmax = 0) AS created,
              COALESCE(last_inbound_at > now() - interval '24 hours', false) AS window_open
), message AS (
    INSERT INTO messages (id, company_id, conversation_id, contact_id, direction, status,
                          to_phone, type, text, content, reply_to_message_id, created_by)
    SELECT %(message_id)s, %(company_id)s, conversation.id, contact.id, 'outbound', 'sending',
           %(phone)s, %(type)s, %(text)s, CAST(%(content)s AS jsonb), %(reply_to)s, %(user_id)s
    FROM contact, conversation
    RETURNING id, created_at
), history AS (
    INSERT INTO message_status_history (message_id, status, source, applied, at)
    SELECT id, 'sending', 'intake', true, created_at FROM message
)
SELECT conversation.id AS conversation_id, conversation.created AS created_conversation,
       contact.id AS contact_id, contact.created AS created_contact,
       conversation.window_open,
       (SELECT send_rate_mps FROM channels
         WHERE company_id = %(company_id)s) AS send_rate_mps
FROM message, conversation, contact
"""


# Runs one statement (psycopg placeholders) and returns its rows: `Database.run` in autocommit,
# or `in_transaction(session)` inside the caller's transaction.
Runner = Callable[[str, Mapping[str, Any]], Sequence[Any]]


def in_transaction(session: Session) -> Runner:
    def run(sql: str, params: Mapping[str, Any]) -> Sequence[Any]:
        return session.connection().exec_driver_sql(sql, dict(params)).all()

    return run


def submit_message(
    db: Database, queue: TaskQueue, principal: Principal, request: SendMessageRequest
) -> Accepted:
    """Accept a message in one transaction, then enqueue its delivery."""
    message_id = uuid.uuid4()
    timings = Timings()
    with span("intake"):
        # The writes are one statement, atomic by itself: run it in autocommit mode, one
        # round trip instead of BEGIN, the statement and COMMIT. (The reply_to check before
        # it only reads a message's owner, which never changes.)
        accepted, channel = accept_message(db.run, principal, request, message_id)
        timings.mark("write")
        crash_point("api_after_commit")
        enqueue_after_commit(queue, [message_id], channel)
        timings.mark("enqueue")
    _log_accepted(principal, accepted, timings)
    return accepted


def submit_message_once(
    db: Database,
    queue: TaskQueue,
    principal: Principal,
    request: SendMessageRequest,
    once: IdempotentRequest | None,
) -> Reply:
    """submit_message, at most once per Idempotency-Key: a repeat replays the first 202."""
    if once is None:
        return reply(202, submit_message(db, queue, principal, request).body())
    message_id = uuid.uuid4()
    timings = Timings()
    done: list[tuple[Accepted, ChannelPace]] = []

    def accept(session: Session) -> Reply:
        accepted, channel = accept_message(in_transaction(session), principal, request, message_id)
        done.append((accepted, channel))
        return reply(202, accepted.body())

    with span("intake"):
        answer = run_once(db, principal, once, accept)
        timings.mark("write")
        if answer.replayed or not done:
            return answer
        crash_point("api_after_commit")
        accepted, channel = done[-1]
        enqueue_after_commit(queue, [message_id], channel)
        timings.mark("enqueue")
    _log_accepted(principal, accepted, timings)
    return answer


def _log_accepted(principal: Principal, accepted: Accepted, timings: Timings) -> None:
    """Count the message and log its one intake line with the steps' timings. The contact,
    the conversation, the message and its history are written by one statement (one round
    trip), so they are timed together as `write_ms`."""
    count(MESSAGES_ACCEPTED)
    log.info(
        "message accepted",
        extra={
            "message_id": str(accepted.id),
            "company_id": str(principal.company_id),
            "conversation_id": str(accepted.conversation_id),
            "created_contact": accepted.created_contact,
            "created_conversation": accepted.created_conversation,
            **timings.total(),
        },
    )


def accept_message(
    run: Runner, principal: Principal, request: SendMessageRequest, message_id: uuid.UUID
) -> tuple[Accepted, ChannelPace]:
    """The intake's writes, through ``run`` (autocommit, or the caller's transaction); and
    the pace of the company's channel, read by the same statement (the send slot is
    reserved after the commit)."""
    if request.reply_to is not None:
        _require_replied_message(run, principal, request.reply_to, "reply_to")
    if request.reaction is not None:
        _require_replied_message(run, principal, request.reaction.message_id, "reaction.message_id")
    if request.template is not None:
        check_template(run, principal.company_id, request.template)
    rows = run(
        _INTAKE_SQL,
        {
            "contact_id": uuid.uuid4(),
            "conversation_id": uuid.uuid4(),
            "message_id": message_id,
            "company_id": principal.company_id,
            "user_id": principal.user_id,
            "phone": request.to,
            "type": request.type,
            "text": request.body_text(),
            "content": request.stored_content(),
            "needs_window": request.type != "template",
            "preview": request.preview()[:PREVIEW_LENGTH],
            "reply_to": request.replied_message_id(),
        },
    )
    if not rows:
        raise WindowClosed(
            "the customer has not written in the last 24 hours: send an approved template",
            {"to": request.to, "type": request.type},
        )
    [row] = rows
    accepted = Accepted(
        id=message_id,
        conversation_id=row.conversation_id,
        contact_id=row.contact_id,
        created_contact=row.created_contact,
        created_conversation=row.created_conversation,
        window_open=row.window_open,
    )
    return accepted, ChannelPace(principal.company_id, row.send_rate_mps)


def retry_message(
    db: Database, queue: TaskQueue, principal: Principal, message_id: uuid.UUID, source: Source
) -> None:
    """Put a failed message back to `sending` and enqueue it; Conflict if it is not failed."""
    with db.transaction() as session:
        if _require_own_message(session, principal, message_id):
            # Its conversation was cleared or deleted: nothing would ever claim it again.
            raise Conflict(
                "a message of a cleared or deleted conversation cannot be retried",
                {"id": str(message_id)},
            )
        decision = start_new_attempt(session, message_id, source)
        if decision is None or not decision.applied:
            raise Conflict("only a failed message can be retried", {"id": str(message_id)})
        rate = session.scalar(
            select(Channel.send_rate_mps).where(Channel.company_id == principal.company_id)
        )
    channel = ChannelPace(principal.company_id, rate) if rate is not None else None
    enqueue_after_commit(queue, [message_id], channel)


_REPLIED_SQL = "SELECT 1 FROM messages WHERE id = %(id)s AND company_id = %(company_id)s"


def _require_replied_message(
    run: Runner, principal: Principal, message_id: uuid.UUID, field: str
) -> None:
    """NotFound unless the company owns the message being replied (or reacted) to."""
    if not run(_REPLIED_SQL, {"id": message_id, "company_id": principal.company_id}):
        raise NotFound("message not found", {field: str(message_id)})


def _require_own_message(session: Session, principal: Principal, message_id: uuid.UUID) -> bool:
    """NotFound unless the company owns the message; True if the message is soft-deleted."""
    deleted = session.scalar(
        select(Message.deleted_at.is_not(None)).where(
            Message.id == message_id, Message.company_id == principal.company_id
        )
    )
    if deleted is None:
        raise NotFound("message not found", {"id": str(message_id)})
    return bool(deleted)

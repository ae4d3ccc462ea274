"""Webhook deliveries: stored raw first, then applied status by status."""

import logging
import uuid
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from db.models import Channel, Message, PendingStatus, WebhookDelivery, table_of
from db.session import Database
from pipeline.domain.errors import NotFound, ValidationError
from pipeline.domain.statuses import PROVIDER_STATUSES, Source, Status
from pipeline.services.inbound import store_inbound
from pipeline.services.ports import TaskQueue
from pipeline.services.statuses import ErrorInfo, StatusReport, apply_status, lock_wamid
from webhooks.payloads import StatusItem, WebhookPayload

log = logging.getLogger("wapipe.webhooks")
_inbox = table_of(WebhookDelivery)
_messages = table_of(Message)


def parse_payload(raw_body: bytes) -> WebhookPayload:
    """Parse a signed body, or raise ValidationError (400): nothing is stored then."""
    try:
        return WebhookPayload.model_validate_json(raw_body)
    except PydanticValidationError as exc:
        raise ValidationError("webhook body is not the expected JSON") from exc


def receive_webhook(db: Database, queue: TaskQueue, raw_body: bytes) -> int:
    """Store a verified delivery and enqueue its processing after the commit."""
    parse_payload(raw_body)
    with db.statement() as conn:  # one INSERT: one round trip, no BEGIN/COMMIT
        delivery_id: int = conn.execute(
            insert(WebhookDelivery).values(raw_body=raw_body).returning(WebhookDelivery.id)
        ).scalar_one()
    try:
        queue.enqueue_webhook(delivery_id)
    except Exception:
        log.exception("enqueue failed for webhook %s; the sweeper will pick it up", delivery_id)
    return delivery_id


def process_webhook(db: Database, delivery_id: int) -> bool:
    """Apply every status and inbound message of a stored delivery, once; False if skipped."""
    with db.transaction() as session:
        # Marking it processed first takes its row lock in the same round trip: a twin job
        # waits, then finds it processed (or, if this transaction fails, processes it).
        raw_body = session.execute(
            update(_inbox)
            .where(_inbox.c.id == delivery_id, _inbox.c.processed_at.is_(None))
            .values(processed_at=func.now())
            .returning(_inbox.c.raw_body)
        ).scalar()
        if raw_body is None:
            return False
        _apply_delivery(session, delivery_id, raw_body)
    return True


def reprocess_webhook(db: Database, delivery_id: int) -> None:
    """Apply a stored delivery again, processed or not (an operator's replay).

    Safe to repeat: the state machine records a repeated status and changes nothing, and
    inbound messages are deduplicated by wamid. NotFound if there is no such delivery.
    """
    with db.transaction() as session:
        # Waits for a worker processing it now, so the two do not interleave.
        raw_body = session.scalar(
            select(WebhookDelivery.raw_body)
            .where(WebhookDelivery.id == delivery_id)
            .with_for_update()
        )
        if raw_body is None:
            raise NotFound(f"no webhook delivery {delivery_id}")
        _apply_delivery(session, delivery_id, raw_body)
        session.execute(
            update(_inbox)
            .where(_inbox.c.id == delivery_id)
            # A replay keeps the time the delivery was first processed.
            .values(processed_at=func.coalesce(_inbox.c.processed_at, func.now()))
        )


def _apply_delivery(session: Session, delivery_id: int, raw_body: bytes) -> None:
    payload = parse_payload(raw_body)
    for value in payload.message_changes():
        assert value.metadata is not None
        phone_number_id = value.metadata.phone_number_id
        company_id = _company_of(session, phone_number_id)
        # Sorted, so two deliveries touching the same messages lock them in one order.
        for item in sorted(value.statuses, key=lambda s: (s.id, s.timestamp, s.status)):
            apply_provider_status(session, company_id, phone_number_id, item, delivery_id)
        if company_id is not None:
            store_inbound(session, company_id, value)


def apply_provider_status(
    session: Session,
    company_id: uuid.UUID | None,
    phone_number_id: str,
    item: StatusItem,
    delivery_id: int | None,
) -> None:
    """Apply one provider status, or park it until its wamid is recorded: never drop it."""
    if item.status not in PROVIDER_STATUSES:
        log.info("ignoring provider status %r", item.status)
        return
    # The usual case: the worker recorded the wamid already, and no lock is needed.
    message_id = _by_wamid(session, company_id, item.id) if company_id is not None else None
    if message_id is not None:
        apply_status(session, message_id, _report(item, delivery_id))
        return
    lock_wamid(session, item.id)
    message_id = _match(session, company_id, item) if company_id is not None else None
    if message_id is None:
        session.execute(
            insert(PendingStatus).values(
                provider_message_id=item.id,
                phone_number_id=phone_number_id,
                payload=item.model_dump(mode="json", by_alias=True),
                webhook_id=delivery_id,
            )
        )
        return
    apply_status(session, message_id, _report(item, delivery_id))


def apply_pending_statuses(session: Session, message_id: uuid.UUID, wamid: str) -> int:
    """Apply statuses that arrived before ``wamid`` was recorded; the caller holds its lock."""
    parked = session.execute(
        delete(PendingStatus)
        .where(PendingStatus.provider_message_id == wamid)
        .returning(PendingStatus.payload, PendingStatus.webhook_id)
    ).all()
    return apply_parked(session, message_id, parked)


def apply_parked(
    session: Session, message_id: uuid.UUID, parked: Iterable[tuple[Any, int | None]]
) -> int:
    """Apply parked statuses (payload, webhook id), already taken out of pending_statuses."""
    count = 0
    for payload, webhook_id in parked:
        apply_status(session, message_id, _report(StatusItem.model_validate(payload), webhook_id))
        count += 1
    return count


def _match(session: Session, company_id: uuid.UUID, item: StatusItem) -> uuid.UUID | None:
    """Find the message by its wamid, or by our id echoed in biz_opaque_callback_data.

    Matching by our id lets a status overtake the worker's own record of the send; the
    message then adopts the wamid, and statuses parked under it are applied too.
    """
    found = _by_wamid(session, company_id, item.id)  # again, now under the wamid's lock
    if found is not None:
        return found
    our_id = _as_uuid(item.biz_opaque_callback_data)
    if our_id is None:
        return None
    adopted = session.execute(
        update(Message)
        .where(Message.id == our_id, Message.company_id == company_id)
        .values(provider_message_id=func.coalesce(Message.provider_message_id, item.id))
        .returning(Message.id, Message.provider_message_id)
    ).first()
    if adopted is None:
        return None
    if adopted.provider_message_id == item.id:
        apply_pending_statuses(session, our_id, item.id)
    return our_id


# phone_number_id -> company: a channel never moves to another company (the id is unique),
# so a found mapping can be kept for the life of the process; a miss is asked again.
_companies: dict[str, uuid.UUID] = {}


def _company_of(session: Session, phone_number_id: str) -> uuid.UUID | None:
    company_id = _companies.get(phone_number_id)
    if company_id is None:
        company_id = session.scalar(
            select(Channel.company_id).where(Channel.phone_number_id == phone_number_id)
        )
        if company_id is not None:
            _companies[phone_number_id] = company_id
    return company_id


def _by_wamid(session: Session, company_id: uuid.UUID, wamid: str) -> uuid.UUID | None:
    found: uuid.UUID | None = session.execute(
        select(_messages.c.id).where(
            _messages.c.provider_message_id == wamid, _messages.c.company_id == company_id
        )
    ).scalar()
    return found


def _report(item: StatusItem, delivery_id: int | None) -> StatusReport:
    error = None
    if item.errors:
        first = item.errors[0]
        error = ErrorInfo(
            code=str(first.code) if first.code is not None else "unknown",
            title=first.title or first.message or "provider reported a failure",
            details=first.error_data.details if first.error_data else None,
        )
    return StatusReport(
        status=Status(item.status),
        at=item.at,
        source=Source.WEBHOOK,
        error=error,
        detail={"wamid": item.id, "webhook_id": delivery_id},
    )


def _as_uuid(raw: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw) if raw else None
    except ValueError:
        return None

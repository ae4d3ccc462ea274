"""Reading messages back, in the shape the HTTP API and the CLI show them."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Message, MessageStatusEvent
from db.session import Database
from pipeline.domain.errors import NotFound
from pipeline.services.tenants import Principal


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def get_message(db: Database, principal: Principal, message_id: uuid.UUID) -> dict[str, Any]:
    """The message with its error fields and status history; NotFound for other companies."""
    with db.transaction() as session:
        message = session.scalar(
            select(Message).where(
                Message.id == message_id, Message.company_id == principal.company_id
            )
        )
        if message is None:
            raise NotFound("message not found", {"id": str(message_id)})
        return message_view(message) | {"history": status_history(session, message_id)}


def status_history(
    session: Session, message_id: uuid.UUID, with_detail: bool = False
) -> list[dict[str, Any]]:
    """Every status reported for a message, in the order it was recorded."""
    events = session.scalars(
        select(MessageStatusEvent)
        .where(MessageStatusEvent.message_id == message_id)
        .order_by(MessageStatusEvent.id)
    )
    return [
        {"status": e.status, "at": _iso(e.at), "source": e.source, "applied": e.applied}
        | ({"detail": e.detail} if with_detail else {})
        for e in events
    ]


def message_content(kind: str, text: str | None, content: Any) -> Any:
    """The typed object of a message; a plain text message stores only its body."""
    if content is None and kind == "text" and text is not None:
        return {"body": text, "preview_url": False}
    return content


def message_view(message: Message) -> dict[str, Any]:
    error = None
    if message.error_code is not None:
        error = {
            "code": message.error_code,
            "title": message.error_title,
            "details": message.error_details,
        }
    return {
        "id": str(message.id),
        "status": message.status,
        "direction": message.direction,
        "to": message.to_phone,
        "text": message.text,
        "type": message.type,
        "content": message_content(message.type, message.text, message.content),
        "conversation_id": str(message.conversation_id),
        "contact_id": str(message.contact_id),
        "reply_to": str(message.reply_to_message_id) if message.reply_to_message_id else None,
        "provider_message_id": message.provider_message_id,
        "error": error,
        "attempts": message.attempts,
        "created_at": _iso(message.created_at),
        "sent_at": _iso(message.sent_at),
        "delivered_at": _iso(message.delivered_at),
        "read_at": _iso(message.read_at),
        "failed_at": _iso(message.failed_at),
        "deleted_at": _iso(message.deleted_at),
    }

"""Customers writing in: stored as inbound messages of the contact's conversation."""

import json
import uuid

from sqlalchemy import text
from sqlalchemy.orm import Session

from pipeline.services.events import MESSAGE_RECEIVED, message_events_sql, snapshot_returning
from webhooks.payloads import ChangeValue, InboundMessage

NAME_LENGTH = 200  # contacts.name

# Deduplicated by wamid (Meta delivers at least once). Ensures contact and conversation as
# the intake does; returns a row only when the message is new, and then writes its event.
_INSERT_SQL = text(f"""
WITH contact AS (
    INSERT INTO contacts (id, company_id, phone, name)
    VALUES (:contact_id, :company_id, :phone, :name)
    ON CONFLICT (company_id, phone) DO UPDATE
        SET name = COALESCE(contacts.name, EXCLUDED.name)
    RETURNING id
), conversation AS (
    INSERT INTO conversations (id, company_id, contact_id)
    SELECT :conversation_id, :company_id, contact.id FROM contact
    ON CONFLICT (company_id, contact_id) DO UPDATE SET deleted_at = NULL
    RETURNING id
), message AS (
INSERT INTO messages (id, company_id, conversation_id, contact_id, direction, status,
                      to_phone, type, text, content, provider_message_id, created_at,
                      delivered_at, reply_to_message_id)
SELECT :message_id, :company_id, conversation.id, contact.id, 'inbound', 'delivered',
       :phone, :type, :text, CAST(:content AS jsonb), :wamid, :at, :at,
       (SELECT r.id FROM messages r
         WHERE r.provider_message_id = :replied_wamid AND r.company_id = :company_id)
FROM contact, conversation
ON CONFLICT (provider_message_id) DO NOTHING
RETURNING id, company_id, conversation_id, {snapshot_returning()}
), event AS (
    {message_events_sql("message", MESSAGE_RECEIVED)}
)
SELECT conversation_id FROM message
""")

# Media a customer sent: the company may download it (GET /v1/media/{id}).
_MEDIA_SQL = text("""
INSERT INTO media (id, company_id, direction, mime_type)
VALUES (:id, :company_id, 'inbound', :mime_type)
ON CONFLICT DO NOTHING
""")

# A separate statement: rows inserted by a CTE are invisible to the rest of its statement.
_UNREAD_SQL = text("""
UPDATE conversations SET
    unread_count = unread_count + 1,
    last_message_id = :message_id,
    last_message_preview = :preview,
    last_message_at = GREATEST(last_message_at, :at),
    last_inbound_at = GREATEST(last_inbound_at, :at),
    updated_at = now()
WHERE id = :conversation_id
""")


class UnusableItem(ValueError):
    """Raised when an item of a delivery cannot be stored as it is (recorded and skipped)."""


def sender_names(value: ChangeValue) -> dict[str, str | None]:
    """The profile name of each sender of a change, by wa_id."""
    return {c.wa_id: c.profile.name for c in value.contacts if c.profile is not None}


def store_inbound(
    session: Session, company_id: uuid.UUID, message: InboundMessage, name: str | None
) -> None:
    """Store one inbound message, once per wamid; UnusableItem if its sender is not a phone."""
    phone = "+" + message.from_.lstrip("+")
    if not phone[1:].isdigit():
        raise UnusableItem("the sender is not a phone number")
    content = message.typed_content()
    body = message.body_text()
    message_id = uuid.uuid4()
    conversation_id = session.execute(
        _INSERT_SQL,
        {
            "contact_id": uuid.uuid4(),
            "conversation_id": uuid.uuid4(),
            "message_id": message_id,
            "company_id": company_id,
            "phone": phone,
            # Bounded to its column: a long profile name must not cost the message.
            "name": name[:NAME_LENGTH] if name else None,
            "type": message.type[:16],
            "text": body,
            "content": json.dumps(content),
            "wamid": message.id,
            "at": message.at,
            "replied_wamid": message.replied_wamid(),
        },
    ).scalar()
    if conversation_id is None:
        return  # a repeat of a message we already have
    session.execute(
        _UNREAD_SQL,
        {
            "conversation_id": conversation_id,
            "message_id": message_id,
            "preview": (body or f"[{message.type}]")[:120],
            "at": message.at,
        },
    )
    media = message.media()
    if media is not None:
        session.execute(
            _MEDIA_SQL, {"id": media[0], "company_id": company_id, "mime_type": media[1]}
        )

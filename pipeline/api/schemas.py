"""Response shapes, as pydantic models the OpenAPI document is generated from.

The views return the services' dicts; these models describe them, and the schemathesis
test checks every response it provokes against them.
"""

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

MessageStatus = Literal["sending", "sent", "delivered", "read", "failed"]
Direction = Literal["outbound", "inbound"]


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorResponse(BaseModel):
    """Every error: a stable code, a human message and, for validation, the fields."""

    error: ErrorBody


class MessageAccepted(BaseModel):
    id: uuid.UUID
    status: Literal["sending"]
    conversation_id: uuid.UUID
    contact_id: uuid.UUID
    created_contact: bool
    created_conversation: bool


class MessageError(BaseModel):
    code: str
    title: str | None
    details: str | None


class MessageView(BaseModel):
    id: uuid.UUID
    status: MessageStatus
    direction: Direction
    to: str
    text: str | None
    conversation_id: uuid.UUID
    contact_id: uuid.UUID
    reply_to: uuid.UUID | None
    provider_message_id: str | None
    error: MessageError | None
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    read_at: datetime | None
    failed_at: datetime | None
    deleted_at: datetime | None


class StatusChange(BaseModel):
    status: MessageStatus
    at: datetime
    source: Literal["intake", "worker", "webhook", "operator"]
    applied: bool


class MessageWithHistory(MessageView):
    history: list[StatusChange]


class RetryAccepted(BaseModel):
    id: uuid.UUID
    status: Literal["sending"]


class ContactView(BaseModel):
    id: uuid.UUID
    name: str | None
    phone: str
    is_group: bool


class LastMessage(BaseModel):
    id: uuid.UUID
    preview: str | None
    at: datetime | None
    status: MessageStatus | None
    direction: Direction | None


class Assignee(BaseModel):
    id: uuid.UUID
    name: str


class ConversationView(BaseModel):
    id: uuid.UUID
    contact: ContactView
    last_message: LastMessage | None
    unread_count: int
    is_favorite: bool
    is_archived: bool
    assigned_user_id: uuid.UUID | None
    assignee: Assignee | None
    activity_at: datetime
    created_at: datetime
    updated_at: datetime
    created_by: uuid.UUID | None
    updated_by: uuid.UUID | None


class ConversationPage(BaseModel):
    items: list[ConversationView]
    next_cursor: str | None


class MessagePage(BaseModel):
    items: list[MessageView]
    next_cursor: str | None


class Health(BaseModel):
    ok: bool


class Readiness(BaseModel):
    ok: bool
    checks: dict[str, str]


class WebhookReceived(BaseModel):
    received: int | None

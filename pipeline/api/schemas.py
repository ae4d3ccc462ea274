"""Response shapes, as pydantic models the OpenAPI document is generated from.

The views return the services' dicts; these models describe them, and the schemathesis
test checks every response it provokes against them.
"""

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

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
    window_open: bool


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
    type: str
    content: dict[str, Any] | None
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
    window_expires_at: datetime | None


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


class TemplateView(BaseModel):
    name: str
    language: str
    status: str
    category: str | None
    components: list[Any]
    synced_at: datetime


class TemplateList(BaseModel):
    items: list[TemplateView]


class MediaUploaded(BaseModel):
    id: str
    mime_type: str
    size: int


class WebhookEndpointCreated(BaseModel):
    id: uuid.UUID
    url: str
    events: list[Literal["message.status", "message.received", "conversation.updated"]]
    description: str | None
    secret: str = Field(description="`whsec_` + base64 of 32 random bytes; shown only here")
    created_at: datetime


class WebhookEndpointView(BaseModel):
    id: uuid.UUID
    url: str
    events: list[Literal["message.status", "message.received", "conversation.updated"]]
    description: str | None
    created_at: datetime
    disabled_at: datetime | None = Field(
        description="Set when it failed every delivery for 5 days, or an operator disabled it"
    )
    disabled_reason: str | None


class WebhookEndpointList(BaseModel):
    items: list[WebhookEndpointView]


class SecretRotated(BaseModel):
    id: uuid.UUID
    secret: str = Field(description="The new secret; the old one still signs for 24 hours")


class MessageEvent(BaseModel):
    """A `message.status` or `message.received` event, as POSTed and streamed."""

    id: str = Field(description="`evt_...`: the `webhook-id` header, the same on every retry")
    type: Literal["message.status", "message.received"]
    timestamp: datetime
    data: MessageView = Field(description="The message as it was at the change")


class ConversationEventData(ConversationView):
    deleted_at: datetime | None


class ConversationEvent(BaseModel):
    """A `conversation.updated` event (read, archived, favourite, assigned, cleared,
    deleted), as POSTed and streamed."""

    id: str
    type: Literal["conversation.updated"]
    timestamp: datetime
    data: ConversationEventData

"""Conversation use cases: create-or-find, read, favourite, archive, assign, clear, delete.

Every statement is scoped by the caller's company; the acting user is recorded as
created_by/updated_by. Clearing and deleting soft-delete the messages and cancel the ones
still owed a send, in the same transaction that locks the conversation row, so an intake
racing with them either lands before (and is cancelled) or after (and is visible).
"""

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    WithJsonSchema,
    field_validator,
)
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from db.models import Conversation, User
from db.session import Database
from pipeline.domain.errors import Forbidden, NotFound
from pipeline.domain.fields import PhoneNumber, visible_text
from pipeline.domain.statuses import Source, Status
from pipeline.services.conversation_queries import load_conversation, load_conversation_by_phone
from pipeline.services.events import record_conversation_event
from pipeline.services.idempotency import IdempotentRequest, Reply, reply, run_once
from pipeline.services.statuses import ErrorInfo, StatusReport, apply_status
from pipeline.services.tenants import Principal

ADMIN = "admin"


class CreateConversationRequest(BaseModel):
    """The body of POST /v1/conversations."""

    model_config = ConfigDict(extra="forbid")

    to: PhoneNumber
    name: (
        Annotated[
            str,
            Field(min_length=1, max_length=200),
            AfterValidator(visible_text),
            AfterValidator(str.strip),
        ]
        | None
    ) = None


# Present or absent, never null: a flag is true or false.
Flag = Annotated[StrictBool | None, WithJsonSchema({"type": "boolean"})]


class UpdateConversationRequest(BaseModel):
    """The body of PATCH /v1/conversations/{id}: any of these fields."""

    model_config = ConfigDict(extra="forbid")

    is_favorite: Flag = None
    is_archived: Flag = None
    assigned_user_id: uuid.UUID | None = Field(
        default=None, description="A user of the same company, or null to unassign."
    )

    @field_validator("is_favorite", "is_archived")
    @classmethod
    def _not_null(cls, value: bool | None) -> bool:
        if value is None:
            raise ValueError("must be true or false")
        return value


# Ensure the contact, then the conversation. A deleted conversation is reopened, empty, at
# the top of the list. No row back means it existed and is live: the caller answers 200.
_CREATE_SQL = text("""
WITH contact AS (
    INSERT INTO contacts (id, company_id, phone, name)
    VALUES (:contact_id, :company_id, :phone, :name)
    ON CONFLICT (company_id, phone) DO UPDATE SET name = COALESCE(contacts.name, EXCLUDED.name)
    RETURNING id
)
INSERT INTO conversations (id, company_id, contact_id, created_by, updated_by)
SELECT :conversation_id, :company_id, contact.id, :user_id, :user_id FROM contact
ON CONFLICT (company_id, contact_id) DO UPDATE SET
    deleted_at = NULL,
    activity_floor_at = now(),
    updated_at = now(),
    updated_by = EXCLUDED.updated_by
WHERE conversations.deleted_at IS NOT NULL
RETURNING id
""")

# Hide every visible message of a conversation; those still `sending` are then cancelled.
_HIDE_MESSAGES_SQL = text("""
UPDATE messages SET deleted_at = now(), updated_at = now()
WHERE conversation_id = :conversation_id AND deleted_at IS NULL
RETURNING id, status
""")


def create_conversation(
    db: Database,
    principal: Principal,
    request: CreateConversationRequest,
    once: IdempotentRequest | None,
) -> Reply:
    """201 with a new (or reopened) conversation for the phone, or 200 with the live one."""

    def create(session: Session) -> Reply:
        created = session.execute(
            _CREATE_SQL,
            {
                "contact_id": uuid.uuid4(),
                "conversation_id": uuid.uuid4(),
                "company_id": principal.company_id,
                "user_id": principal.user_id,
                "phone": request.to,
                "name": request.name,
            },
        ).first()
        view = load_conversation_by_phone(session, principal, request.to)
        return reply(201 if created is not None else 200, view)

    return run_once(db, principal, once, create)


def mark_conversation_read(
    db: Database, principal: Principal, conversation_id: uuid.UUID
) -> dict[str, Any]:
    """Set the unread count to 0."""
    with db.transaction() as session:
        _update_live(session, principal, conversation_id, unread_count=0)
        return load_conversation(session, principal, conversation_id)


def update_conversation(
    db: Database,
    principal: Principal,
    conversation_id: uuid.UUID,
    request: UpdateConversationRequest,
) -> dict[str, Any]:
    """Favourite, archive or assign; assigning anyone but oneself needs an admin."""
    changes = request.model_dump(exclude_unset=True)
    with db.transaction() as session:
        if "assigned_user_id" in changes:
            current = _lock_live(session, principal, conversation_id)
            _check_assignment(principal, current, request.assigned_user_id)
            if request.assigned_user_id is not None:
                _require_colleague(session, principal, request.assigned_user_id)
        if changes:
            _update_live(session, principal, conversation_id, **changes)
        return load_conversation(session, principal, conversation_id)


def clear_conversation(
    db: Database, principal: Principal, conversation_id: uuid.UUID
) -> dict[str, Any]:
    """Hide its messages (cancelling unsent ones); it keeps its place in the list."""
    _require_admin(principal, "clear a conversation")
    with db.transaction() as session:
        _update_live(
            session,
            principal,
            conversation_id,
            # Keep the list position: the activity before the clear becomes the floor.
            activity_floor_at=Conversation.activity_at,
            **_NO_LAST_MESSAGE,
        )
        _hide_messages(session, conversation_id, "cleared")
        return load_conversation(session, principal, conversation_id)


def delete_conversation(db: Database, principal: Principal, conversation_id: uuid.UUID) -> None:
    """Soft-delete it and its messages; a later message to the phone reopens it, empty."""
    _require_admin(principal, "delete a conversation")
    with db.transaction() as session:
        # Reset to what a new conversation looks like, so a reopening starts afresh.
        _update_live(
            session,
            principal,
            conversation_id,
            deleted_at=func.now(),
            is_favorite=False,
            is_archived=False,
            assigned_user_id=None,
            **_NO_LAST_MESSAGE,
        )
        _hide_messages(session, conversation_id, "deleted")


_NO_LAST_MESSAGE: dict[str, Any] = {
    "last_message_id": None,
    "last_message_preview": None,
    "last_message_at": None,
    "unread_count": 0,
}


def _update_live(
    session: Session, principal: Principal, conversation_id: uuid.UUID, **values: Any
) -> None:
    """Update a live conversation of the company (locking its row); NotFound otherwise."""
    found = session.execute(
        update(Conversation)
        .where(
            Conversation.id == conversation_id,
            Conversation.company_id == principal.company_id,
            Conversation.deleted_at.is_(None),
        )
        .values(updated_at=func.now(), updated_by=principal.user_id, **values)
        .returning(Conversation.id)
    ).first()
    if found is None:
        raise NotFound("conversation not found", {"id": str(conversation_id)})
    # The outbox: every change made here is a `conversation.updated`, in its transaction.
    record_conversation_event(session, principal.company_id, conversation_id)


def _lock_live(
    session: Session, principal: Principal, conversation_id: uuid.UUID
) -> uuid.UUID | None:
    """Lock a live conversation of the company and return its assignee; NotFound otherwise."""
    row = session.execute(
        select(Conversation.assigned_user_id)
        .where(
            Conversation.id == conversation_id,
            Conversation.company_id == principal.company_id,
            Conversation.deleted_at.is_(None),
        )
        .with_for_update()
    ).first()
    if row is None:
        raise NotFound("conversation not found", {"id": str(conversation_id)})
    assignee: uuid.UUID | None = row.assigned_user_id
    return assignee


def _check_assignment(
    principal: Principal, current: uuid.UUID | None, assignee: uuid.UUID | None
) -> None:
    # An agent may take a conversation or let go of its own; anything else is an admin's.
    if principal.role == ADMIN or assignee == principal.user_id:
        return
    if assignee is None and current in (None, principal.user_id):
        return
    raise Forbidden(
        "only an admin may assign a conversation to someone else",
        {"assigned_user_id": str(assignee) if assignee else None},
    )


def _require_colleague(session: Session, principal: Principal, user_id: uuid.UUID) -> None:
    found = session.scalar(
        select(User.id).where(User.id == user_id, User.company_id == principal.company_id)
    )
    if found is None:
        raise NotFound("user not found", {"assigned_user_id": str(user_id)})


def _require_admin(principal: Principal, action: str) -> None:
    if principal.role != ADMIN:
        raise Forbidden(f"only an admin may {action}", {"role": principal.role})


def _hide_messages(session: Session, conversation_id: uuid.UUID, why: str) -> None:
    hidden = session.execute(_HIDE_MESSAGES_SQL, {"conversation_id": conversation_id}).all()
    now = datetime.now(UTC)
    for message in hidden:
        if message.status != Status.SENDING:
            continue
        # Not sent yet, and never will be: the claim skips deleted messages. A send already
        # in flight may still land; its webhook then moves the message on from `failed`.
        apply_status(
            session,
            message.id,
            StatusReport(
                Status.FAILED,
                at=now,
                source=Source.INTAKE,
                error=ErrorInfo("cancelled", f"the conversation was {why} before it was sent"),
                on_applied={"lease_owner": None, "lease_expires_at": None},
            ),
        )

"""Reading conversations back: the list on the left, one conversation, its thread.

Lists page by keyset, never by offset: conversations on (activity_at, id) newest first,
messages on seq newest first. The cursor names the last row a page showed, so rows that
arrive or move to the top while a client pages never shift the pages it has yet to read.
"""

import base64
import binascii
import json
import re
import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from sqlalchemy import ColumnElement, Row, Select, literal_column, or_, select, tuple_
from sqlalchemy.orm import Session

from db.models import Contact, Conversation, Message, User
from db.session import Database
from pipeline.domain.errors import NotFound, ValidationError
from pipeline.domain.fields import storable_text
from pipeline.services.messages import message_view
from pipeline.services.tenants import Principal
from pipeline.services.window import WINDOW_HOURS

Limit = Annotated[int, Field(ge=1, le=100, description="Page size.")]
Cursor = Annotated[
    str | None, Field(max_length=200, description="`next_cursor` of the previous page.")
]


def _assignee(value: object) -> object:
    # One clear error instead of one per member of the union.
    if value is None or value in ("me", "none") or isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise ValueError("must be me, none or a user id") from None


class ListConversationsQuery(BaseModel):
    """The query string of GET /v1/conversations."""

    model_config = ConfigDict(extra="forbid")

    filter: Literal["all", "unread", "favorites", "groups"] = "all"
    archived: bool = Field(default=False, description="Archived conversations are their own list.")
    assigned: Annotated[Literal["me", "none"] | uuid.UUID | None, BeforeValidator(_assignee)] = (
        Field(default=None, description="`me`, `none` or a user id.")
    )
    q: Annotated[str, AfterValidator(storable_text)] | None = Field(
        default=None, max_length=100, description="Substring of the contact's name or phone."
    )
    limit: Limit = 50
    cursor: Cursor = None


class ListMessagesQuery(BaseModel):
    """The query string of GET /v1/conversations/{id}/messages."""

    model_config = ConfigDict(extra="forbid")

    limit: Limit = 50
    cursor: Cursor = None


def list_conversations(
    db: Database, principal: Principal, query: ListConversationsQuery
) -> dict[str, Any]:
    """A page of the company's live conversations, newest activity first."""
    with db.transaction() as session:
        contacts = matching_contacts(session, principal, query.q)
        rows = session.execute(conversation_page_statement(principal, query, contacts)).all()
    page = rows[: query.limit]
    next_cursor = None
    if len(rows) > query.limit:
        next_cursor = _encode({"at": page[-1].activity_at.isoformat(), "id": str(page[-1].id)})
    return {"items": [conversation_view(row) for row in page], "next_cursor": next_cursor}


def get_conversation(
    db: Database, principal: Principal, conversation_id: uuid.UUID
) -> dict[str, Any]:
    """One live conversation of the company; NotFound otherwise."""
    with db.transaction() as session:
        return load_conversation(session, principal, conversation_id)


def list_messages(
    db: Database, principal: Principal, conversation_id: uuid.UUID, query: ListMessagesQuery
) -> dict[str, Any]:
    """A page of a conversation's visible messages, newest first."""
    statement = message_page_statement(principal, conversation_id, query)
    with db.transaction() as session:
        _require_live(session, principal, conversation_id)
        messages = session.scalars(statement).all()
    page = messages[: query.limit]
    next_cursor = _encode({"seq": page[-1].seq}) if len(messages) > query.limit else None
    return {"items": [message_view(message) for message in page], "next_cursor": next_cursor}


# A search matching few contacts is answered from the trigram indexes (those contacts, then
# their conversations, sorted); one matching many by walking the list in order, where the
# matches are dense. Statistics alone do not tell the planner which case it is in: a
# mid-selective term made it walk the list for 10,000+ rows.
FEW_CONTACTS = 2000


def matching_contacts(
    session: Session, principal: Principal, q: str | None
) -> list[uuid.UUID] | None:
    """The contacts a search matches if they are few; None if many, or no search."""
    match = _search(principal, q)
    if match is None:
        return None
    found = session.scalars(select(Contact.id).where(match).limit(FEW_CONTACTS + 1)).all()
    return list(found) if len(found) <= FEW_CONTACTS else None


def conversation_page_statement(
    principal: Principal,
    query: ListConversationsQuery,
    contacts: list[uuid.UUID] | None = None,
) -> Select[Any]:
    """The statement behind a page of the list (the benchmark EXPLAINs it too)."""
    statement = _filtered(principal, query, contacts).limit(query.limit + 1)
    if query.cursor is not None:
        at, last_id = _decode_conversation_cursor(query.cursor)
        statement = statement.where(
            tuple_(Conversation.activity_at, Conversation.id) < (at, last_id)
        )
    return statement


def message_page_statement(
    principal: Principal, conversation_id: uuid.UUID, query: ListMessagesQuery
) -> Select[Message]:
    """The statement behind a page of a conversation's messages."""
    statement = (
        select(Message)
        .where(
            Message.conversation_id == conversation_id,
            Message.company_id == principal.company_id,
            Message.deleted_at.is_(None),
        )
        .order_by(Message.seq.desc())
        .limit(query.limit + 1)
    )
    if query.cursor is not None:
        statement = statement.where(Message.seq < _decode_message_cursor(query.cursor))
    return statement


def load_conversation(
    session: Session, principal: Principal, conversation_id: uuid.UUID
) -> dict[str, Any]:
    row = session.execute(_view_select(principal).where(Conversation.id == conversation_id)).first()
    if row is None:
        raise NotFound("conversation not found", {"id": str(conversation_id)})
    return conversation_view(row)


def load_conversation_by_phone(
    session: Session, principal: Principal, phone: str
) -> dict[str, Any]:
    row = session.execute(_view_select(principal).where(Contact.phone == phone)).one()
    return conversation_view(row)


def window_expires_at(last_inbound_at: datetime | None) -> datetime | None:
    """When the 24-hour customer service window closes (None: the customer never wrote)."""
    if last_inbound_at is None:
        return None
    return last_inbound_at + timedelta(hours=WINDOW_HOURS)


def conversation_view(row: Row[Any]) -> dict[str, Any]:
    last_message = None
    if row.last_message_id is not None:
        last_message = {
            "id": str(row.last_message_id),
            "preview": row.last_message_preview,
            "at": _iso(row.last_message_at),
            "status": row.last_message_status,
            "direction": row.last_message_direction,
        }
    assignee = None
    if row.assigned_user_id is not None:
        assignee = {"id": str(row.assigned_user_id), "name": row.assignee_name}
    return {
        "id": str(row.id),
        "contact": {
            "id": str(row.contact_id),
            "name": row.contact_name,
            "phone": row.phone,
            "is_group": row.is_group,
        },
        "last_message": last_message,
        "unread_count": row.unread_count,
        "is_favorite": row.is_favorite,
        "is_archived": row.is_archived,
        "assigned_user_id": str(row.assigned_user_id) if row.assigned_user_id else None,
        "assignee": assignee,
        "activity_at": _iso(row.activity_at),
        "created_at": _iso(row.created_at),
        "updated_at": _iso(row.updated_at),
        "created_by": str(row.created_by) if row.created_by else None,
        "updated_by": str(row.updated_by) if row.updated_by else None,
        "window_expires_at": _iso(window_expires_at(row.last_inbound_at)),
    }


_LAST = Message.__table__.alias("last_message")
# Built once: constructing the joins and the alias per request cost more than the query.
_VIEW = (
    select(
        Conversation.id,
        Conversation.contact_id,
        Contact.name.label("contact_name"),
        Contact.phone,
        Contact.is_group,
        Conversation.last_message_id,
        Conversation.last_message_preview,
        Conversation.last_message_at,
        _LAST.c.status.label("last_message_status"),
        _LAST.c.direction.label("last_message_direction"),
        Conversation.unread_count,
        Conversation.is_favorite,
        Conversation.is_archived,
        Conversation.assigned_user_id,
        User.name.label("assignee_name"),
        Conversation.activity_at,
        Conversation.created_at,
        Conversation.updated_at,
        Conversation.created_by,
        Conversation.updated_by,
        Conversation.last_inbound_at,
    )
    .join(Contact, Contact.id == Conversation.contact_id)
    .outerjoin(_LAST, _LAST.c.id == Conversation.last_message_id)
    .outerjoin(User, User.id == Conversation.assigned_user_id)
)


def _view_select(principal: Principal) -> Select[Any]:
    return _VIEW.where(
        Conversation.company_id == principal.company_id, Conversation.deleted_at.is_(None)
    )


def _filtered(
    principal: Principal, query: ListConversationsQuery, contacts: list[uuid.UUID] | None
) -> Select[Any]:
    # Filters are literals, not parameters, so even a generic plan can prove the partial
    # indexes' predicates (unread_count > 0, is_favorite) and use them.
    statement = _view_select(principal).where(Conversation.is_archived == query.archived)
    if query.filter == "unread":
        statement = statement.where(Conversation.unread_count > literal_column("0"))
    elif query.filter == "favorites":
        statement = statement.where(Conversation.is_favorite)
    elif query.filter == "groups":
        statement = statement.where(Contact.is_group)
    if query.assigned == "me":
        statement = statement.where(Conversation.assigned_user_id == principal.user_id)
    elif query.assigned == "none":
        statement = statement.where(Conversation.assigned_user_id.is_(None))
    elif isinstance(query.assigned, uuid.UUID):
        statement = statement.where(Conversation.assigned_user_id == query.assigned)
    if contacts is not None:
        statement = statement.where(Conversation.contact_id.in_(contacts))
    else:
        match = _search(principal, query.q)
        if match is not None:
            statement = statement.where(match)
    return statement.order_by(Conversation.activity_at.desc(), Conversation.id.desc())


# A search that looks like a phone number also matches phones whatever its punctuation.
_PHONE_LIKE = re.compile(r"[\d\s+()\-.]+")


def _search(principal: Principal, q: str | None) -> ColumnElement[bool] | None:
    term = (q or "").strip()
    if not term:
        return None
    pattern = "%" + re.sub(r"([\\%_])", r"\\\1", term) + "%"
    match: ColumnElement[bool] = Contact.name.ilike(pattern, escape="\\")
    digits = re.sub(r"\D", "", term)
    if digits and _PHONE_LIKE.fullmatch(term):
        match = or_(match, Contact.phone.like(f"%{digits}%"))
    # Repeats the company on contacts so the planner can start from the search indexes.
    return (Contact.company_id == principal.company_id) & match


def _require_live(session: Session, principal: Principal, conversation_id: uuid.UUID) -> None:
    found = session.scalar(
        select(Conversation.id).where(
            Conversation.id == conversation_id,
            Conversation.company_id == principal.company_id,
            Conversation.deleted_at.is_(None),
        )
    )
    if found is None:
        raise NotFound("conversation not found", {"id": str(conversation_id)})


def _encode(position: dict[str, Any]) -> str:
    raw = json.dumps(position, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise _bad_cursor() from exc
    if not isinstance(position, dict):
        raise _bad_cursor()
    return position


def _decode_conversation_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    position = _decode(cursor)
    try:
        at = datetime.fromisoformat(position["at"])
        last_id = uuid.UUID(position["id"])
    except (KeyError, TypeError, ValueError) as exc:
        raise _bad_cursor() from exc
    if at.tzinfo is None:
        raise _bad_cursor()
    return at, last_id


def _decode_message_cursor(cursor: str) -> int:
    seq = _decode(cursor).get("seq")
    # Within bigint: a larger number would reach PostgreSQL and fail there (a 500).
    if not isinstance(seq, int) or isinstance(seq, bool) or not -(2**63) <= seq < 2**63:
        raise _bad_cursor()
    return seq


def _bad_cursor() -> ValidationError:
    return ValidationError("the cursor is not valid", {"cursor": "not a cursor of this list"})


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None

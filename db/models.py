"""SQLAlchemy models: PostgreSQL is the source of truth, Redis only a transport."""

import uuid
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy import (
    text as sql,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Stable constraint names, so migrations can refer to them.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _uuid_pk() -> Mapped[uuid.UUID]:
    return mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)


def _created_at() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class Company(Base):
    __tablename__ = "companies"
    __table_args__ = (CheckConstraint("window_policy IN ('off', 'enforce')", name="window_policy"),)

    id: Mapped[uuid.UUID] = _uuid_pk()
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = _created_at()
    # `enforce`: a non-template message to a conversation whose 24-hour customer service
    # window is closed is refused at intake (Meta would refuse it with 131047 later).
    window_policy: Mapped[str] = mapped_column(String(8), server_default=sql("'off'"))


class User(Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('admin', 'agent')", name="role"),)

    id: Mapped[uuid.UUID] = _uuid_pk()
    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = _created_at()


class ApiKey(Base):
    """An API key, stored as the SHA-256 of the key: keys are random, so no slow hash is needed."""

    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = _uuid_pk()
    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    key_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = _created_at()
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Updated at most once a minute per key (on an auth cache miss), not on every request.
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Requests a second this key may make; NULL: WAPIPE_API_RATE_LIMIT.
    rate_limit: Mapped[int | None] = mapped_column(Integer)


class Channel(Base):
    """A company's WhatsApp business number and the credentials to send from it."""

    __tablename__ = "channels"

    id: Mapped[uuid.UUID] = _uuid_pk()
    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), unique=True)
    phone_number_id: Mapped[str] = mapped_column(String(64), unique=True)
    display_phone_number: Mapped[str | None] = mapped_column(String(32))
    waba_id: Mapped[str | None] = mapped_column(String(64))
    # `fernet:<token>` under WAPIPE_SECRET_KEY (pipeline/crypto.py); plain text only in rows
    # from before encryption, until `wapipe secrets rotate`.
    access_token: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = _created_at()
    # A paused channel sends nothing; its messages stay `sending` until it is resumed.
    paused_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    pause_reason: Mapped[str | None] = mapped_column(Text)
    pause_code: Mapped[str | None] = mapped_column(String(32))
    # Messages a second all workers together may send from this number (Meta's default
    # for a business number is 80).
    send_rate_mps: Mapped[int] = mapped_column(Integer, server_default=sql("80"))


class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("company_id", "phone", name="uq_contacts_company_phone"),
        # Search: case-insensitive substring of a contact's name or phone (pg_trgm).
        Index(
            "ix_contacts_name_trgm",
            "name",
            postgresql_using="gin",
            postgresql_ops={"name": "gin_trgm_ops"},
        ),
        Index(
            "ix_contacts_phone_trgm",
            "phone",
            postgresql_using="gin",
            postgresql_ops={"phone": "gin_trgm_ops"},
        ),
        Index("ix_contacts_groups", "company_id", "id", postgresql_where=sql("is_group")),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    phone: Mapped[str] = mapped_column(String(20))
    name: Mapped[str | None] = mapped_column(String(200))
    is_group: Mapped[bool] = mapped_column(Boolean, server_default=sql("false"))
    created_at: Mapped[datetime] = _created_at()


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint("company_id", "contact_id", name="uq_conversations_company_contact"),
        # Keyset pagination on (activity_at, id) within a company's live conversations, one
        # index per common filter so a page is an index range scan of `limit` rows.
        Index(
            "ix_conversations_list",
            "company_id",
            "is_archived",
            "activity_at",
            "id",
            postgresql_where=sql("deleted_at IS NULL"),
        ),
        Index(
            "ix_conversations_unread",
            "company_id",
            "is_archived",
            "activity_at",
            "id",
            postgresql_where=sql("deleted_at IS NULL AND unread_count > 0"),
        ),
        Index(
            "ix_conversations_favorites",
            "company_id",
            "is_archived",
            "activity_at",
            "id",
            postgresql_where=sql("deleted_at IS NULL AND is_favorite"),
        ),
        Index(
            "ix_conversations_assignee",
            "company_id",
            "assigned_user_id",
            "is_archived",
            "activity_at",
            "id",
            postgresql_where=sql("deleted_at IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contacts.id"))
    # A denormalised pointer for the conversation list (no FK: it is rewritten on every message).
    last_message_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    last_message_preview: Mapped[str | None] = mapped_column(String(200))
    last_message_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    unread_count: Mapped[int] = mapped_column(Integer, server_default=sql("0"))
    is_favorite: Mapped[bool] = mapped_column(Boolean, server_default=sql("false"))
    is_archived: Mapped[bool] = mapped_column(Boolean, server_default=sql("false"))
    assigned_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _created_at()
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    updated_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    # The list order (migration 0003): where the conversation sits without messages, and the
    # generated key the list pages on, so every writer of last_message_at keeps it right.
    activity_floor_at: Mapped[datetime] = _created_at()
    activity_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True),
        Computed("GREATEST(activity_floor_at, last_message_at)", persisted=True),
    )
    # When the customer last wrote: the 24-hour window runs from it.
    last_inbound_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        CheckConstraint(
            "status IN ('sending', 'sent', 'delivered', 'read', 'failed')", name="status"
        ),
        CheckConstraint("direction IN ('outbound', 'inbound')", name="direction"),
        Index("ix_messages_conversation_seq", "conversation_id", "seq"),
        # A conversation's visible messages, newest first, without walking cleared ones.
        Index(
            "ix_messages_conversation_visible",
            "conversation_id",
            "seq",
            postgresql_where=sql("deleted_at IS NULL"),
        ),
        Index("ix_messages_company_status", "company_id", "status", "created_at"),
        # Each conversation's messages still owed a send, in intake order: the claim's "is an
        # earlier one still owed?" and "which is next in line" read only this small index;
        # the sweep and the oldest owed message read all of it.
        Index(
            "ix_messages_owed",
            "conversation_id",
            "seq",
            postgresql_where=sql("status = 'sending' AND deleted_at IS NULL"),
        ),
        # No index whose predicate is only `status = 'sending'`: every statement about owed
        # messages implies it, and on stale statistics the planner chose it over the primary
        # key and over this one, reading every owed message per send (migration 0009).
        # Room on each page for a row's next version: a claim or a lease change touches no
        # indexed column, and with room it is a HOT update that writes none of the indexes.
        {"postgresql_with": {"fillfactor": 80}},
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    # Intake order; keeps per-conversation order and stable cursors.
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=False), unique=True)
    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    conversation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("conversations.id"))
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contacts.id"))
    direction: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    to_phone: Mapped[str] = mapped_column(String(20))
    type: Mapped[str] = mapped_column(String(16), server_default=sql("'text'"))
    text: Mapped[str | None] = mapped_column(Text)
    content: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    reply_to_message_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("messages.id"))
    provider_message_id: Mapped[str | None] = mapped_column(String(256), unique=True)
    error_code: Mapped[str | None] = mapped_column(String(32))
    error_title: Mapped[str | None] = mapped_column(Text)
    error_details: Mapped[str | None] = mapped_column(Text)
    fbtrace_id: Mapped[str | None] = mapped_column(String(128))
    attempts: Mapped[int] = mapped_column(Integer, server_default=sql("0"))
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _created_at()
    # When the current round of delivery began (intake or the latest retry); bounds its age.
    queued_at: Mapped[datetime] = _created_at()
    # When a job for it was last handed to the broker (or is due from a delayed retry);
    # the sweeper re-enqueues a `sending` message whose job is overdue by a grace period.
    enqueued_at: Mapped[datetime] = _created_at()
    # Sends made after an attempt whose outcome we could not know (timeout after the request
    # left, a worker killed mid-send): the only sends that may have reached the provider twice.
    ambiguous_resends: Mapped[int] = mapped_column(Integer, server_default=sql("0"))
    updated_at: Mapped[datetime] = _created_at()
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Attempts of the rounds before the latest retry: `attempts` is this round's (its
    # budget), and attempt numbers go on counting from their sum.
    earlier_attempts: Mapped[int] = mapped_column(Integer, server_default=sql("0"))


class RetiredWamid(Base):
    """The wamid of an earlier attempt of a retried message: its late statuses are recorded
    in the history but never move the message."""

    __tablename__ = "retired_wamids"

    wamid: Mapped[str] = mapped_column(String(256), primary_key=True)
    message_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("messages.id"), index=True)
    retired_at: Mapped[datetime] = _created_at()


class MessageStatusEvent(Base):
    """Append-only history of every status reported for a message, applied or not."""

    __tablename__ = "message_status_history"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    message_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("messages.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))
    applied: Mapped[bool] = mapped_column(Boolean)
    # When it happened: the provider's timestamp for webhooks, ours otherwise.
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recorded_at: Mapped[datetime] = _created_at()
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class WebhookDelivery(Base):
    """The inbox: every signed webhook POST, stored raw before it is processed."""

    __tablename__ = "webhook_inbox"
    __table_args__ = (
        Index("ix_webhook_inbox_unprocessed", "id", postgresql_where=sql("processed_at IS NULL")),
        # Retention deletes by age; BRIN costs next to nothing on the hot insert.
        Index("ix_webhook_inbox_received_at", "received_at", postgresql_using="brin"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    raw_body: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime] = _created_at()
    enqueued_at: Mapped[datetime] = _created_at()
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Why a delivery could not be applied (it is marked processed so it cannot block the
    # rest); an operator replays it once the cause is fixed.
    error: Mapped[str | None] = mapped_column(Text)
    # Applications tried one delivery at a time (after its batch failed); past a bound the
    # delivery is quarantined: marked processed, kept, and replayable by an operator.
    tries: Mapped[int] = mapped_column(Integer, server_default=sql("0"))
    quarantined_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # After a failed try, not before this (the wait doubles with each try), so a passing
    # cause (a deadlock, a restart) does not use up the tries in a second.
    next_try_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Items (statuses, inbound messages) that could not be applied and were skipped:
    # [{"kind", "index", "id", "error"}]; the rest of the delivery was applied.
    item_errors: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)


class PendingStatus(Base):
    """A provider status for a wamid we have not recorded yet; applied once we record it."""

    __tablename__ = "pending_statuses"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    provider_message_id: Mapped[str] = mapped_column(String(256), index=True)
    # The company of the channel it arrived on: it applies to that company's message only.
    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    phone_number_id: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    webhook_id: Mapped[int | None] = mapped_column(ForeignKey("webhook_inbox.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False, index=True
    )


class DeliveryAttempt(Base):
    """One claim of a message by a worker and what came of it."""

    __tablename__ = "delivery_attempts"
    __table_args__ = (
        Index("ix_delivery_attempts_finished_at", "finished_at", postgresql_using="brin"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    message_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("messages.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    worker: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime] = _created_at()
    # sent | failed | retry | ambiguous | halted | expired
    outcome: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[str | None] = mapped_column(String(32))
    error_title: Mapped[str | None] = mapped_column(Text)
    http_status: Mapped[int | None] = mapped_column(Integer)
    fbtrace_id: Mapped[str | None] = mapped_column(String(128))
    provider_message_id: Mapped[str | None] = mapped_column(String(256))


class IdempotencyKey(Base):
    """A company's Idempotency-Key and the response first given for it (kept 24 hours)."""

    __tablename__ = "idempotency_keys"

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    # SHA-256 of the endpoint and the request's JSON value, to tell a retry from a misuse.
    fingerprint: Mapped[bytes] = mapped_column(LargeBinary)
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False, index=True
    )


class OperatorAction(Base):
    """The audit trail: who did what to the pipeline from the CLI, when and why."""

    __tablename__ = "operator_actions"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False, index=True
    )
    # Null while a bulk action runs, and forever if it was interrupted.
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    company_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("companies.id"))
    # The parameters (filters, rate, jobs) and the result counts.
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class OperatorActionMessage(Base):
    """One message an operator action touched, and what came of it."""

    __tablename__ = "operator_action_messages"

    action_id: Mapped[int] = mapped_column(ForeignKey("operator_actions.id"), primary_key=True)
    message_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("messages.id"), primary_key=True, index=True
    )
    # retried | skipped | requeued | dropped
    outcome: Mapped[str] = mapped_column(String(16))
    # The message's status when the action found it.
    status: Mapped[str | None] = mapped_column(String(16))


def table_of(model: type[Base]) -> Table:
    """A model's Core table, for hot statements where the ORM's machinery costs more than
    the round trip itself."""
    return cast(Table, model.__table__)


class WorkerNode(Base):
    """A live (or lately live) worker process: its heartbeat and whether it leads."""

    __tablename__ = "worker_nodes"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    queues: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    leader_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class MaintenanceRun(Base):
    """One run of one of the leader's maintenance tasks (pruned like the other logs)."""

    __tablename__ = "maintenance_runs"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    node_id: Mapped[str] = mapped_column(String(128))
    task: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    finished_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class Template(Base):
    """A message template of a company's WhatsApp business account, as last synced."""

    __tablename__ = "templates"
    __table_args__ = (
        UniqueConstraint(
            "company_id", "name", "language", name="uq_templates_company_name_language"
        ),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    provider_id: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(512))
    language: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(32))
    category: Mapped[str | None] = mapped_column(String(32))
    components: Mapped[list[Any]] = mapped_column(JSONB)
    synced_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Media(Base):
    """A media id the company uploaded or received: only those may be downloaded by it."""

    __tablename__ = "media"
    # For retention (pipeline/services/retention.py).
    __table_args__ = (Index("ix_media_created_at", "created_at"),)

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), primary_key=True)
    direction: Mapped[str] = mapped_column(String(8))
    mime_type: Mapped[str | None] = mapped_column(String(128))
    size: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = _created_at()


class WebhookEndpoint(Base):
    """A URL of a company's that receives its events, signed with its secret."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[uuid.UUID] = _uuid_pk()
    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str | None] = mapped_column(String(500))
    event_types: Mapped[list[str]] = mapped_column(ARRAY(String(32)))
    # `whsec_...`, encrypted like channel tokens (pipeline/crypto.py); the one before a
    # rotation still signs until `previous_secret_until`.
    secret: Mapped[str] = mapped_column(Text)
    previous_secret: Mapped[str | None] = mapped_column(Text)
    previous_secret_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The first failed attempt since the last success: 5 days of it disable the endpoint.
    failing_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    disabled_reason: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = _created_at()


class Event(Base):
    """The outbox: one row per committed change, written in the change's own transaction."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_txid", "txid", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    type: Mapped[str] = mapped_column(String(32))
    message_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # A message event: the message's status columns as they were at the change (the rest
    # of the message does not change); a conversation event: the conversation's view.
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = _created_at()
    # The writing transaction's id (xid8 as bigint): readers order by (txid, id) and read
    # only below every running transaction, so a late commit is never skipped.
    txid: Mapped[int] = mapped_column(
        BigInteger, server_default=sql("(pg_current_xact_id()::text)::bigint")
    )


class EventCursor(Base):
    """How far a reader of the outbox has got, by (txid, id): the fan-out's is durable."""

    __tablename__ = "event_cursors"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    txid: Mapped[int] = mapped_column(BigInteger, server_default=sql("0"))
    event_id: Mapped[int] = mapped_column(BigInteger, server_default=sql("0"))


class EventDelivery(Base):
    """One event owed to one endpoint, with its attempts so far."""

    __tablename__ = "event_deliveries"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name="status"),
        Index(
            "ix_event_deliveries_due", "next_attempt_at", postgresql_where=sql("status = 'pending'")
        ),
        Index("ix_event_deliveries_endpoint_id", "endpoint_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    event_id: Mapped[int] = mapped_column(BigInteger, index=True)
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    status: Mapped[str] = mapped_column(String(16), server_default=sql("'pending'"))
    attempts: Mapped[int] = mapped_column(Integer, server_default=sql("0"))
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_http_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = _created_at()

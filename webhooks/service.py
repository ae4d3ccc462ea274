"""The inbox of webhook deliveries: stored raw first, then applied in batches."""

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import func, or_, select, text, update
from sqlalchemy.orm import Session

from db.models import Channel, WebhookDelivery, table_of
from db.session import Database
from pipeline.domain.errors import NotFound, ValidationError
from pipeline.observability.tracing import span
from pipeline.services.template_sync import apply_template_status
from webhooks.apply import ProviderStatus, apply_parked_known, apply_provider_statuses
from webhooks.inbound import sender_names, store_inbound
from webhooks.payloads import InboundMessage, WebhookPayload

log = logging.getLogger("wapipe.webhooks")
_inbox = table_of(WebhookDelivery)

# Statuses and inbound messages one signed delivery may carry. Meta sends a handful per
# POST; far more is not Meta (or a misconfigured relay), and one delivery must not make an
# applier's transaction unbounded. Refused with 400 TOO_MANY_ITEMS before it is stored.
MAX_ITEMS = 1000
# A delivery that failed as a whole this many times when applied on its own (its items are
# isolated, so this is not about one bad item) is quarantined: marked processed with its
# error, kept, and replayable by an operator; never retried forever.
MAX_TRIES = 5
# The wait after the first failed try; it doubles with each try (2 s, 4 s, 8 s, 16 s), so a
# delivery is quarantined only after failing for about half a minute, not in one burst.
TRY_BACKOFF_S = 2.0


class TooManyItems(ValidationError):
    """Raised when a webhook delivery carries more than MAX_ITEMS statuses and messages."""

    code = "TOO_MANY_ITEMS"


# The answer to the provider waits for the body's shape check and this one autocommit
# INSERT, nothing else (no broker, no message row). No NOTIFY to wake the appliers: it takes
# a database-wide lock from commit to WAL flush, which serialised every webhook's commit.
_STORE_SQL = "INSERT INTO webhook_inbox (raw_body) VALUES (%(raw_body)s) RETURNING id"

# One applier at a time: two batches holding statuses of the same messages would wait on
# each other's row locks (they did, for 7 ms a batch, with one applier per worker process),
# and one applier applies thousands of statuses a second. Held until the batch commits.
_APPLIER_LOCK_SQL = text("SELECT pg_try_advisory_xact_lock(hashtext('wapipe.webhook_applier'))")

# The oldest unprocessed deliveries no other applier holds, marked processed in the same
# statement: if the transaction that applies them fails, they are unprocessed again.
_CLAIM_SQL = text("""
UPDATE webhook_inbox w SET processed_at = now()
FROM (SELECT id FROM webhook_inbox
      WHERE processed_at IS NULL AND received_at <= now() - make_interval(secs => :min_age)
        AND (next_try_at IS NULL OR next_try_at <= now())
      ORDER BY id LIMIT :limit
      FOR UPDATE SKIP LOCKED) AS due
WHERE w.id = due.id
RETURNING w.id, w.raw_body
""")


class Delivery(NamedTuple):
    id: int
    raw_body: bytes


def parse_payload(raw_body: bytes) -> WebhookPayload:
    """Parse a signed body, or raise ValidationError (400): nothing is stored then."""
    try:
        return WebhookPayload.model_validate_json(raw_body)
    except PydanticValidationError as exc:
        raise ValidationError("webhook body is not the expected JSON") from exc


def receive_webhook(db: Database, raw_body: bytes) -> int:
    """Store a verified delivery; an applier picks it up from PostgreSQL."""
    items = sum(
        len(v.statuses) + len(v.messages) for v in parse_payload(raw_body).message_changes()
    )
    if items > MAX_ITEMS:
        raise TooManyItems(
            f"a webhook delivery carries at most {MAX_ITEMS} statuses and messages",
            {"items": items, "max_items": MAX_ITEMS},
        )
    [stored] = db.run(_STORE_SQL, {"raw_body": raw_body})
    return int(stored.id)


def apply_pending_deliveries(
    db: Database, limit: int, min_age_seconds: float = 0, try_backoff_s: float = TRY_BACKOFF_S
) -> list[int]:
    """Apply up to ``limit`` unprocessed deliveries: in one transaction, or, if that fails
    for any reason, one by one and item by item (`isolate_failures`); the ids applied.

    ``min_age_seconds`` leaves the youngest to the workers (the operator's sweep). Only a
    database that is down raises: no delivery can hold the inbox back.
    """
    try:
        return _apply_batch(db, limit, min_age_seconds)
    except Exception as error:
        # The reason only: a traceback would carry the statement's parameters.
        reason = failure_reason(error)
        log.warning("a webhook batch failed (%s); applying it delivery by delivery", reason)
        return isolate_failures(db, limit, min_age_seconds, try_backoff_s)


def _apply_batch(db: Database, limit: int, min_age_seconds: float) -> list[int]:
    """Claim and apply up to ``limit`` unprocessed deliveries in one transaction."""
    with db.transaction() as session:
        if not session.execute(_APPLIER_LOCK_SQL).scalar():
            return []  # another applier is at work and will take these too
        claimed = session.execute(_CLAIM_SQL, {"limit": limit, "min_age": min_age_seconds}).all()
        if not claimed:
            return []
        with span("webhooks.apply") as current:
            current.set_attribute("wapipe.deliveries", len(claimed))
            parked = apply_deliveries(session, [Delivery(*row) for row in claimed])
    apply_parked_known(db, parked)
    return [row.id for row in claimed]


# One more try of a delivery applied on its own, counted in its own commit before the try,
# so a try that fails (or a process that dies in it) is counted all the same.
_COUNT_TRY_SQL = """
UPDATE webhook_inbox SET tries = tries + 1 WHERE id = %(id)s AND processed_at IS NULL
RETURNING tries
"""

# A failed try: its error is kept and the next try waits; the last allowed one
# quarantines the delivery.
_FAILED_TRY_SQL = """
UPDATE webhook_inbox SET error = %(error)s,
    next_try_at = now() + make_interval(secs => %(backoff_s)s * 2 ^ (tries - 1)),
    processed_at = CASE WHEN %(quarantine)s THEN now() END,
    quarantined_at = CASE WHEN %(quarantine)s THEN now() END
WHERE id = %(id)s AND processed_at IS NULL
"""


def isolate_failures(
    db: Database, limit: int, min_age_seconds: float = 0, backoff_s: float = TRY_BACKOFF_S
) -> list[int]:
    """After a batch failed: apply up to ``limit`` unprocessed deliveries one per
    transaction and item by item (`process_webhook`), so a bad item is recorded and skipped
    and a delivery that fails as a whole holds back nothing else; it is tried again after
    ``backoff_s`` (doubling), and quarantined after MAX_TRIES. The ids applied. A database
    that is down raises (the caller backs off)."""
    age = func.now() - func.make_interval(0, 0, 0, 0, 0, 0, min_age_seconds)
    with db.statement() as conn:
        ids = (
            conn.execute(
                select(_inbox.c.id)
                .where(
                    _inbox.c.processed_at.is_(None),
                    _inbox.c.received_at <= age,
                    or_(_inbox.c.next_try_at.is_(None), _inbox.c.next_try_at <= func.now()),
                )
                .order_by(_inbox.c.id)
                .limit(limit)
            )
            .scalars()
            .all()
        )
    applied = []
    for delivery_id in ids:
        counted = db.run(_COUNT_TRY_SQL, {"id": delivery_id})
        if not counted:
            continue  # processed meanwhile
        try:
            if process_webhook(db, delivery_id):
                applied.append(delivery_id)
        except Exception as error:
            quarantine = counted[0].tries >= MAX_TRIES
            reason = failure_reason(error)
            log.warning(
                "webhook delivery %s could not be applied (try %s of %s%s): %s",
                delivery_id,
                counted[0].tries,
                MAX_TRIES,
                "; quarantined" if quarantine else "",
                reason,
            )
            params = {
                "id": delivery_id,
                "error": reason,
                "quarantine": quarantine,
                "backoff_s": backoff_s,
            }
            db.run(_FAILED_TRY_SQL, params)
    return applied


def process_webhook(db: Database, delivery_id: int) -> bool:
    """Apply one stored delivery now, item by item, unless it is processed already; False if
    skipped."""
    with db.transaction() as session:
        # Marking it processed first takes its row lock in the same round trip: an applier
        # skips it, a twin call waits and then finds it processed.
        raw_body = session.execute(
            update(_inbox)
            .where(_inbox.c.id == delivery_id, _inbox.c.processed_at.is_(None))
            .values(processed_at=text("now()"))
            .returning(_inbox.c.raw_body)
        ).scalar()
        if raw_body is None:
            return False
        parked = apply_items_one_by_one(session, Delivery(delivery_id, raw_body))
    apply_parked_known(db, parked)
    return True


def reprocess_webhook(db: Database, delivery_id: int) -> None:
    """Apply a stored delivery again, item by item, processed, quarantined or not (an
    operator's replay); it is no longer quarantined after it.

    Safe to repeat: the state machine records a repeated status and changes nothing, and
    inbound messages are deduplicated by wamid. NotFound if there is no such delivery.
    """
    with db.transaction() as session:
        # Waits for an applier holding it now, so the two do not interleave.
        raw_body = session.scalar(
            select(_inbox.c.raw_body).where(_inbox.c.id == delivery_id).with_for_update()
        )
        if raw_body is None:
            raise NotFound(f"no webhook delivery {delivery_id}")
        parked = apply_items_one_by_one(session, Delivery(delivery_id, raw_body))
        session.execute(
            update(_inbox)
            .where(_inbox.c.id == delivery_id)
            # A replay keeps the time the delivery was first processed.
            .values(
                processed_at=text("COALESCE(processed_at, now())"),
                quarantined_at=None,
                next_try_at=None,
                error=None,
            )
        )
    apply_parked_known(db, parked)


@dataclass(frozen=True, slots=True)
class InboundItem:
    company_id: uuid.UUID
    message: InboundMessage
    name: str | None


@dataclass
class DeliveryItems:
    """A delivery's statuses and inbound messages, and the items that cannot be applied."""

    statuses: list[ProviderStatus] = field(default_factory=list)
    inbound: list[InboundItem] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    # (WABA id, update) of each template status change.
    templates: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def delivery_items(session: Session, delivery: Delivery) -> DeliveryItems:
    """Every item of ``delivery`` with the company of the channel it arrived for; an item
    for a number no company has is an error (its status could never apply to anyone)."""
    payload = parse_payload(delivery.raw_body)
    items = DeliveryItems(templates=payload.template_updates())
    for value in payload.message_changes():
        assert value.metadata is not None
        phone_number_id = value.metadata.phone_number_id
        company_id = _company_of(session, phone_number_id)
        if company_id is None:
            reason = f"no channel has phone_number_id {phone_number_id[:64]!r}"
            items.errors += [item_error("status", s.id, reason) for s in value.statuses]
            items.errors += [item_error("message", m.id, reason) for m in value.messages]
            continue
        items.statuses += [
            ProviderStatus(company_id, phone_number_id, item, delivery.id)
            for item in value.statuses
        ]
        names = sender_names(value)
        items.inbound += [InboundItem(company_id, m, names.get(m.from_)) for m in value.messages]
    return items


def apply_deliveries(session: Session, deliveries: Sequence[Delivery]) -> list[str]:
    """Every status of ``deliveries`` in one batch, then their inbound messages; returns
    the wamids parked (see `apply_parked_known`, for after the commit). Any failure fails
    the whole batch: the applier then applies its deliveries item by item."""
    statuses: list[ProviderStatus] = []
    inbound: list[InboundItem] = []
    templates: list[tuple[str, dict[str, Any]]] = []
    for delivery in deliveries:
        items = delivery_items(session, delivery)
        statuses += items.statuses
        inbound += items.inbound
        templates += items.templates
        if items.errors:
            _record_item_errors(session, delivery.id, items.errors)
    parked = apply_provider_statuses(session, statuses)
    for item in inbound:
        store_inbound(session, item.company_id, item.message, item.name)
    for waba_id, change in templates:
        apply_template_status(session, waba_id, change)
    return parked


def apply_items_one_by_one(session: Session, delivery: Delivery) -> list[str]:
    """Apply each item of ``delivery`` in a savepoint of its own: one that fails is
    recorded in the delivery's `item_errors` and skipped, the others are applied. Returns
    the wamids parked."""
    items = delivery_items(session, delivery)
    errors = list(items.errors)
    parked: list[str] = []
    for status in items.statuses:
        try:
            with session.begin_nested():
                parked += apply_provider_statuses(session, [status])
        except Exception as error:
            errors.append(item_error("status", status.item.id, failure_reason(error)))
    for item in items.inbound:
        try:
            with session.begin_nested():
                store_inbound(session, item.company_id, item.message, item.name)
        except Exception as error:
            errors.append(item_error("message", item.message.id, failure_reason(error)))
    for waba_id, change in items.templates:
        try:
            with session.begin_nested():
                apply_template_status(session, waba_id, change)
        except Exception as error:
            name = str(change.get("message_template_name"))
            errors.append(item_error("template", name, failure_reason(error)))
    if errors:
        log.warning("webhook delivery %s: %s item(s) skipped", delivery.id, len(errors))
    _record_item_errors(session, delivery.id, errors)
    return parked


def item_error(kind: str, item_id: str, reason: str) -> dict[str, Any]:
    """How a skipped item is recorded: what it was, its id (a wamid) and why."""
    return {"kind": kind, "id": item_id[:256], "error": reason}


def _record_item_errors(session: Session, delivery_id: int, errors: list[dict[str, Any]]) -> None:
    session.execute(
        update(_inbox).where(_inbox.c.id == delivery_id).values(item_errors=errors or None)
    )


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


def failure_reason(error: Exception) -> str:
    """An error in a few words for operators: its type and the first line of its message.
    SQLAlchemy appends the statement and its parameters (message text) after that line."""
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {first}"[:500]

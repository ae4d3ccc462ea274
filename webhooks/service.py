"""The inbox of webhook deliveries: stored raw first, then applied in batches."""

import logging
import uuid
from collections.abc import Sequence
from typing import NamedTuple

from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import select, text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from db.models import Channel, WebhookDelivery, table_of
from db.session import Database
from pipeline.domain.errors import NotFound, ValidationError
from webhooks.apply import ProviderStatus, apply_parked_known, apply_provider_statuses
from webhooks.inbound import store_inbound
from webhooks.payloads import WebhookPayload

log = logging.getLogger("wapipe.webhooks")
_inbox = table_of(WebhookDelivery)

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
    parse_payload(raw_body)
    [stored] = db.run(_STORE_SQL, {"raw_body": raw_body})
    return int(stored.id)


def apply_pending_deliveries(db: Database, limit: int, min_age_seconds: float = 0) -> list[int]:
    """Claim and apply up to ``limit`` unprocessed deliveries in one transaction; their ids.

    ``min_age_seconds`` leaves the youngest to the workers (the operator's sweep).
    """
    with db.transaction() as session:
        if not session.execute(_APPLIER_LOCK_SQL).scalar():
            return []  # another applier is at work and will take these too
        claimed = session.execute(_CLAIM_SQL, {"limit": limit, "min_age": min_age_seconds}).all()
        parked = apply_deliveries(session, [Delivery(*row) for row in claimed])
    apply_parked_known(db, parked)
    return [row.id for row in claimed]


def isolate_failures(db: Database, limit: int) -> int:
    """Apply up to ``limit`` deliveries one per transaction; one that fails for its content
    is marked processed with its error (visible to operators) so it cannot hold back the
    rest. A database error is raised: the delivery stays unprocessed for the next try."""
    with db.statement() as conn:
        ids = (
            conn.execute(
                select(_inbox.c.id)
                .where(_inbox.c.processed_at.is_(None))
                .order_by(_inbox.c.id)
                .limit(limit)
            )
            .scalars()
            .all()
        )
    for delivery_id in ids:
        try:
            process_webhook(db, delivery_id)
        except OperationalError:
            raise
        except Exception as error:
            log.exception("webhook delivery %s cannot be applied", delivery_id)
            with db.statement() as conn:
                conn.execute(
                    update(_inbox)
                    .where(_inbox.c.id == delivery_id, _inbox.c.processed_at.is_(None))
                    .values(processed_at=text("now()"), error=_reason(error))
                )
    return len(ids)


def process_webhook(db: Database, delivery_id: int) -> bool:
    """Apply one stored delivery now, unless it is processed already; False if skipped."""
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
        parked = apply_deliveries(session, [Delivery(delivery_id, raw_body)])
    apply_parked_known(db, parked)
    return True


def reprocess_webhook(db: Database, delivery_id: int) -> None:
    """Apply a stored delivery again, processed or not (an operator's replay).

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
        parked = apply_deliveries(session, [Delivery(delivery_id, raw_body)])
        session.execute(
            update(_inbox)
            .where(_inbox.c.id == delivery_id)
            # A replay keeps the time the delivery was first processed.
            .values(processed_at=text("COALESCE(processed_at, now())"))
        )
    apply_parked_known(db, parked)


def apply_deliveries(session: Session, deliveries: Sequence[Delivery]) -> list[str]:
    """Every status of ``deliveries`` in one batch, then their inbound messages; returns
    the wamids parked (see `apply_parked_known`, for after the commit)."""
    statuses: list[ProviderStatus] = []
    inbound = []
    for delivery in deliveries:
        for value in parse_payload(delivery.raw_body).message_changes():
            assert value.metadata is not None
            phone_number_id = value.metadata.phone_number_id
            company_id = _company_of(session, phone_number_id)
            statuses.extend(
                ProviderStatus(company_id, phone_number_id, item, delivery.id)
                for item in value.statuses
            )
            if company_id is not None and value.messages:
                inbound.append((company_id, value))
    parked = apply_provider_statuses(session, statuses)
    for company_id, value in inbound:
        store_inbound(session, company_id, value)
    return parked


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


def _reason(error: Exception) -> str:
    # The first line only: SQLAlchemy appends the statement and its parameters.
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {first}"[:2000]

"""Retention on real PostgreSQL: old rows go in bounded batches; rows still needed stay."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, insert, select, update

from db.models import (
    DeliveryAttempt,
    IdempotencyKey,
    MaintenanceRun,
    Media,
    Message,
    MessageStatusEvent,
    PendingStatus,
    WebhookDelivery,
)
from pipeline.bootstrap import Container
from pipeline.config import Settings
from pipeline.services.retention import prune, prune_log, retention_periods
from tests.conftest import Tenant
from tests.support import send_message

NOW = datetime.now(UTC)
# A valid delivery with nothing in it, so an applier that takes one applies nothing.
EMPTY_DELIVERY = b'{"object": "whatsapp_business_account", "entry": []}'
LONG_AGO = NOW - timedelta(days=400)


def _inbox(container: Container, received: datetime, processed: datetime | None) -> int:
    with container.db.transaction() as session:
        return int(
            session.scalar(
                insert(WebhookDelivery)
                .values(raw_body=EMPTY_DELIVERY, received_at=received, processed_at=processed)
                .returning(WebhookDelivery.id)
            )
        )


def _attempt(container: Container, message_id: str, finished: datetime) -> int:
    with container.db.transaction() as session:
        return int(
            session.scalar(
                insert(DeliveryAttempt)
                .values(
                    message_id=uuid.UUID(message_id),
                    attempt=1,
                    worker="w",
                    started_at=finished,
                    finished_at=finished,
                    outcome="retry",
                )
                .returning(DeliveryAttempt.id)
            )
        )


def _parked(container: Container, tenant: Tenant, created: datetime, webhook: int | None) -> int:
    with container.db.transaction() as session:
        return int(
            session.scalar(
                insert(PendingStatus)
                .values(
                    provider_message_id=f"wamid.{uuid.uuid4().hex}",
                    company_id=tenant.company_id,
                    phone_number_id=tenant.phone_number_id,
                    payload={},
                    webhook_id=webhook,
                    created_at=created,
                )
                .returning(PendingStatus.id)
            )
        )


def _key(container: Container, tenant: Tenant, created: datetime) -> str:
    key = uuid.uuid4().hex
    with container.db.transaction() as session:
        session.execute(
            insert(IdempotencyKey).values(
                company_id=tenant.company_id, key=key, fingerprint=b"x", created_at=created
            )
        )
    return key


def _run(container: Container, started: datetime) -> int:
    with container.db.transaction() as session:
        return int(
            session.scalar(
                insert(MaintenanceRun)
                .values(node_id="n", task="prune", started_at=started, finished_at=started)
                .returning(MaintenanceRun.id)
            )
        )


def _media(container: Container, tenant: Tenant, created: datetime) -> str:
    media_id = f"media-{uuid.uuid4().hex}"
    with container.db.transaction() as session:
        session.execute(
            insert(Media).values(
                id=media_id, company_id=tenant.company_id, direction="in", created_at=created
            )
        )
    return media_id


def _left(container: Container, column: Any, ids: list[Any]) -> set[Any]:
    with container.db.transaction() as session:
        return set(session.scalars(select(column).where(column.in_(ids))))


def _set_status(container: Container, message_id: str, status: str) -> None:
    with container.db.transaction() as session:
        session.execute(
            update(Message).where(Message.id == uuid.UUID(message_id)).values(status=status)
        )


def test_prune_deletes_old_rows_and_keeps_recent_ones_and_those_still_needed(
    client: FlaskClient, tenant: Tenant, container: Container, settings: Settings
) -> None:
    done_message, owed_message = send_message(client, tenant), send_message(client, tenant)
    _set_status(container, done_message, "failed")
    _set_status(container, owed_message, "sending")
    with container.db.transaction() as session:
        history_before = session.scalar(select(func.count()).select_from(MessageStatusEvent))

    old_webhook = _inbox(container, LONG_AGO, LONG_AGO)
    unprocessed_webhook = _inbox(container, LONG_AGO, None)
    recent_webhook = _inbox(container, NOW, NOW)
    named_by_a_parked_status = _inbox(container, LONG_AGO, LONG_AGO)
    old_attempt = _attempt(container, done_message, LONG_AGO)
    owed_attempt = _attempt(container, owed_message, LONG_AGO)
    recent_attempt = _attempt(container, done_message, NOW)
    old_parked = _parked(container, tenant, LONG_AGO, None)
    waiting_parked = _parked(container, tenant, NOW - timedelta(hours=1), named_by_a_parked_status)
    old_key = _key(container, tenant, NOW - timedelta(hours=25))
    fresh_key = _key(container, tenant, NOW - timedelta(hours=23))
    old_run, recent_run = _run(container, LONG_AGO), _run(container, NOW)
    old_media = _media(container, tenant, NOW - timedelta(days=31))
    recent_media = _media(container, tenant, NOW - timedelta(days=29))

    report = prune(container.db, settings)

    assert report.complete
    webhooks = [old_webhook, unprocessed_webhook, recent_webhook, named_by_a_parked_status]
    assert _left(container, WebhookDelivery.id, webhooks) == set(webhooks) - {old_webhook}
    attempts = [old_attempt, owed_attempt, recent_attempt]
    assert _left(container, DeliveryAttempt.id, attempts) == {owed_attempt, recent_attempt}
    assert _left(container, PendingStatus.id, [old_parked, waiting_parked]) == {waiting_parked}
    assert _left(container, IdempotencyKey.key, [old_key, fresh_key]) == {fresh_key}
    assert _left(container, MaintenanceRun.id, [old_run, recent_run]) == {recent_run}
    assert _left(container, Media.id, [old_media, recent_media]) == {recent_media}
    # The events outbox and its deliveries: tests/integration/test_events.py.
    seeded = set(report.deleted) - {"events", "event_deliveries"}
    assert all(report.deleted[name] >= 1 for name in seeded)
    ids = [uuid.UUID(done_message), uuid.UUID(owed_message)]
    assert len(_left(container, Message.id, ids)) == 2
    with container.db.transaction() as session:
        history_after = session.scalar(select(func.count()).select_from(MessageStatusEvent))
    assert history_after == history_before


def test_prune_deletes_in_batches_of_at_most_the_batch_size(container: Container) -> None:
    with container.db.transaction() as session:
        session.execute(
            insert(MaintenanceRun),
            [
                {"node_id": "n", "task": "t", "started_at": LONG_AGO, "finished_at": LONG_AGO}
                for _ in range(2_500)
            ],
        )
    deleted, batches, done = prune_log(container.db, "maintenance_runs", timedelta(days=30), 1000)
    assert done
    assert deleted >= 2_500
    # Full batches until a short one: never more than 1,000 rows in one statement.
    assert batches == deleted // 1000 + 1


def test_prune_stops_when_its_time_budget_is_spent(
    container: Container, settings: Settings
) -> None:
    old_run = _run(container, LONG_AGO)
    report = prune(container.db, settings, budget_s=0)
    assert not report.complete
    assert report.total == 0
    assert _left(container, MaintenanceRun.id, [old_run]) == {old_run}


def test_parked_statuses_outlive_the_maximum_delivery_age_whatever_is_configured(
    settings: Settings,
) -> None:
    eager = settings.model_copy(
        update={"wapipe_retention_parked_days": 0, "wapipe_retention_idempotency_hours": 1}
    )
    periods = retention_periods(eager)
    assert periods["parked"] > timedelta(seconds=settings.wapipe_max_delivery_age_seconds)
    assert periods["idempotency_keys"] == timedelta(hours=24)

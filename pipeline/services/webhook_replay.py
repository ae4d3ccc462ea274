"""Replaying stored webhook deliveries for an operator: applied again, audited."""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from db.models import WebhookDelivery
from db.session import Database
from pipeline.services.audit import Operator, finish_action, start_action
from webhooks.service import reprocess_webhook


@dataclass(frozen=True, slots=True)
class StoredWebhook:
    id: int
    received_at: datetime
    processed_at: datetime | None


def find_webhooks(
    db: Database,
    ids: Iterable[int] = (),
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[StoredWebhook]:
    """Stored deliveries by id, or received in [since, until), oldest first."""
    query = select(
        WebhookDelivery.id, WebhookDelivery.received_at, WebhookDelivery.processed_at
    ).order_by(WebhookDelivery.id)
    wanted = list(ids)
    if wanted:
        query = query.where(WebhookDelivery.id.in_(wanted))
    if since is not None:
        query = query.where(WebhookDelivery.received_at >= since)
    if until is not None:
        query = query.where(WebhookDelivery.received_at < until)
    with db.transaction() as session:
        return [StoredWebhook(*row) for row in session.execute(query)]


def replay_webhooks(
    db: Database,
    operator: Operator,
    deliveries: list[StoredWebhook],
    details: dict[str, Any] | None = None,
    on_each: Callable[[int], None] | None = None,
) -> int:
    """Apply stored deliveries again; the state machine turns repeats into no-ops."""
    with db.transaction() as session:
        action_id = start_action(
            session,
            operator,
            "webhooks.replay",
            (details or {}) | {"ids": [d.id for d in deliveries]},
        )
    for delivery in deliveries:
        reprocess_webhook(db, delivery.id)
        if on_each is not None:
            on_each(delivery.id)
    with db.transaction() as session:
        finish_action(session, action_id, {"replayed": len(deliveries)})
    return action_id

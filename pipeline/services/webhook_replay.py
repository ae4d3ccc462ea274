"""Replaying stored webhook deliveries for an operator: applied again, audited."""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select

from db.models import WebhookDelivery
from db.session import Database
from pipeline.services.audit import Operator, finish_action, start_action
from webhooks.service import reprocess_webhook


@dataclass(frozen=True, slots=True)
class StoredWebhook:
    id: int
    received_at: datetime
    processed_at: datetime | None
    tries: int = 0
    quarantined_at: datetime | None = None
    error: str | None = None
    item_errors: list[dict[str, Any]] | None = None

    @property
    def state(self) -> str:
        """pending (not applied yet), quarantined (given up on), or applied."""
        if self.quarantined_at is not None:
            return "quarantined"
        return "pending" if self.processed_at is None else "applied"

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "state": self.state,
            "received_at": self.received_at.isoformat(),
            "processed_at": self.processed_at.isoformat() if self.processed_at else None,
            "quarantined_at": self.quarantined_at.isoformat() if self.quarantined_at else None,
            "tries": self.tries,
            "error": self.error,
            "item_errors": self.item_errors or [],
        }


_i = WebhookDelivery
_COLUMNS = (
    _i.id,
    _i.received_at,
    _i.processed_at,
    _i.tries,
    _i.quarantined_at,
    _i.error,
    _i.item_errors,
)


def find_webhooks(
    db: Database,
    ids: Iterable[int] = (),
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[StoredWebhook]:
    """Stored deliveries by id, or received in [since, until), oldest first."""
    query = select(*_COLUMNS).order_by(_i.id)
    wanted = list(ids)
    if wanted:
        query = query.where(_i.id.in_(wanted))
    if since is not None:
        query = query.where(_i.received_at >= since)
    if until is not None:
        query = query.where(_i.received_at < until)
    with db.transaction() as session:
        return [StoredWebhook(*row) for row in session.execute(query)]


def list_webhooks(
    db: Database, failed: bool = False, since: datetime | None = None, limit: int = 20
) -> list[StoredWebhook]:
    """The latest stored deliveries, newest first; ``failed``: only those with a problem
    (quarantined, a failed try, or items skipped)."""
    query = select(*_COLUMNS).order_by(_i.id.desc()).limit(limit)
    if failed:
        query = query.where(
            or_(_i.quarantined_at.is_not(None), _i.error.is_not(None), _i.item_errors.is_not(None))
        )
    if since is not None:
        query = query.where(_i.received_at >= since)
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

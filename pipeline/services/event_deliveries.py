"""What operators see and do about events' deliveries: list them, replay them."""

import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text

from db.session import Database
from pipeline.services.audit import Operator, record_action_in
from pipeline.services.events import public_id


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    event_id: str
    type: str
    company_id: uuid.UUID
    endpoint_id: uuid.UUID
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_http_status: int | None
    last_error: str | None
    created_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            name: str(value) if isinstance(value, uuid.UUID) else value
            for name, value in asdict(self).items()
        } | {
            "created_at": self.created_at.isoformat(),
            "next_attempt_at": self.next_attempt_at.isoformat() if self.next_attempt_at else None,
        }


_LIST_SQL = """
SELECT d.event_id, e.type, e.company_id, d.endpoint_id, d.status, d.attempts,
       CASE WHEN d.status = 'pending' THEN d.next_attempt_at END AS next_attempt_at,
       d.last_http_status, d.last_error, d.created_at
FROM event_deliveries d JOIN events e ON e.id = d.event_id
WHERE (CAST(:company AS uuid) IS NULL OR e.company_id = :company)
  AND (CAST(:endpoint AS uuid) IS NULL OR d.endpoint_id = :endpoint)
  AND (CAST(:status AS text) IS NULL OR d.status = :status)
ORDER BY d.id DESC LIMIT :limit
"""

# Every event since a time that the endpoint subscribes to and has not received: its
# failed deliveries start again, and those it never had (created while it was disabled,
# or before it subscribed) are added. Receivers deduplicate by `webhook-id`.
_REPLAY_SQL = """
WITH endpoint AS (
    SELECT id, company_id, event_types FROM webhook_endpoints WHERE id = :endpoint
), wanted AS (
    SELECT e.id FROM events e, endpoint w
    WHERE e.company_id = w.company_id AND e.type = ANY(w.event_types) AND e.created_at >= :since
      AND NOT EXISTS (SELECT 1 FROM event_deliveries d
                      WHERE d.event_id = e.id AND d.endpoint_id = w.id
                        AND d.status IN ('succeeded', 'pending'))
), reset AS (
    UPDATE event_deliveries d SET status = 'pending', attempts = 0, next_attempt_at = now()
    FROM wanted WHERE d.event_id = wanted.id AND d.endpoint_id = :endpoint
    RETURNING d.id
), added AS (
    INSERT INTO event_deliveries (event_id, endpoint_id)
    SELECT id, :endpoint FROM wanted
    WHERE NOT EXISTS (SELECT 1 FROM event_deliveries d
                      WHERE d.event_id = wanted.id AND d.endpoint_id = :endpoint)
    RETURNING id
)
SELECT (SELECT company_id FROM endpoint) AS company_id,
       (SELECT count(*) FROM reset) + (SELECT count(*) FROM added) AS replayed
"""


def list_deliveries(
    db: Database,
    company_id: uuid.UUID | None,
    endpoint_id: uuid.UUID | None,
    status: str | None,
    limit: int,
) -> list[DeliveryRow]:
    """The latest deliveries, newest first, filtered."""
    params = {"company": company_id, "endpoint": endpoint_id, "status": status, "limit": limit}
    with db.transaction() as session:
        rows = session.execute(text(_LIST_SQL), params).all()
    return [DeliveryRow(**(row._asdict() | {"event_id": public_id(row.event_id)})) for row in rows]


@dataclass(frozen=True, slots=True)
class Replayed:
    replayed: int  # deliveries (re)started
    action_id: int  # the operator's action in the audit trail


def replay_deliveries(
    db: Database, operator: Operator, endpoint_id: uuid.UUID, since: datetime
) -> Replayed | None:
    """Deliver again what the endpoint did not receive since ``since``, audited in the same
    transaction; None if there is no such endpoint."""
    with db.transaction() as session:
        row = session.execute(text(_REPLAY_SQL), {"endpoint": endpoint_id, "since": since}).one()
        if row.company_id is None:
            return None
        details = {"endpoint_id": str(endpoint_id), "since": since.isoformat()}
        result = {"replayed": int(row.replayed)}
        action_id = record_action_in(
            session, operator, "events.replay", details, row.company_id, result
        )
    return Replayed(int(row.replayed), action_id)

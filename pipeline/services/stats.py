"""The pipeline at a glance: messages per status, queue depths, backlogs, paused channels."""

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis
from dramatiq.brokers.redis import RedisBroker
from sqlalchemy import text

from db.session import Database
from pipeline.domain.statuses import Status
from pipeline.services.nodes import live_nodes
from workers.queues import queue_depths

STATUSES = [s.value for s in Status]

_PER_COMPANY_SQL = text("""
SELECT m.company_id, c.name, m.status, count(*) AS n
FROM messages m JOIN companies c ON c.id = m.company_id
WHERE m.direction = 'outbound' AND m.deleted_at IS NULL
  AND (CAST(:company_id AS uuid) IS NULL OR m.company_id = :company_id)
GROUP BY m.company_id, c.name, m.status
""")

# The partial index on `sending` rows keeps this cheap however many messages are done.
_OLDEST_SENDING_SQL = text("""
SELECT m.id, m.company_id, EXTRACT(EPOCH FROM now() - m.queued_at) AS age,
       ch.paused_at IS NOT NULL AS paused
FROM messages m LEFT JOIN channels ch ON ch.company_id = m.company_id
WHERE m.status = 'sending' AND m.deleted_at IS NULL
  AND (CAST(:company_id AS uuid) IS NULL OR m.company_id = :company_id)
ORDER BY m.queued_at LIMIT 1
""")

_BACKLOG_SQL = text("""
SELECT count(*) AS n, EXTRACT(EPOCH FROM now() - min(received_at)) AS age
FROM webhook_inbox WHERE processed_at IS NULL
""")

_PAUSED_SQL = text("""
SELECT ch.company_id, c.name, ch.paused_at, ch.pause_code, ch.pause_reason,
       (SELECT count(*) FROM messages m
         WHERE m.company_id = ch.company_id AND m.status = 'sending'
           AND m.deleted_at IS NULL) AS waiting
FROM channels ch JOIN companies c ON c.id = ch.company_id
WHERE ch.paused_at IS NOT NULL
  AND (CAST(:company_id AS uuid) IS NULL OR ch.company_id = :company_id)
ORDER BY ch.paused_at
""")

_AMBIGUOUS_SQL = text("""
SELECT COALESCE(sum(ambiguous_resends), 0) FROM messages
WHERE ambiguous_resends > 0
  AND (CAST(:company_id AS uuid) IS NULL OR company_id = :company_id)
""")


@dataclass
class Stats:
    at: datetime
    companies: dict[str, dict[str, Any]] = field(default_factory=dict)
    queues: dict[str, dict[str, int]] | None = None
    queues_error: str | None = None
    oldest_sending: dict[str, Any] | None = None
    webhook_backlog: dict[str, Any] = field(default_factory=dict)
    paused_channels: list[dict[str, Any]] = field(default_factory=list)
    ambiguous_resends: int = 0
    # Live worker nodes (their PostgreSQL session holds their lock), the leader flagged.
    nodes: list[dict[str, Any]] = field(default_factory=list)

    def totals(self) -> dict[str, int]:
        return {s: sum(c["counts"][s] for c in self.companies.values()) for s in STATUSES}

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "companies": self.companies,
            "totals": self.totals(),
            "queues": self.queues,
            "queues_error": self.queues_error,
            "oldest_sending": self.oldest_sending,
            "webhook_backlog": self.webhook_backlog,
            "paused_channels": self.paused_channels,
            "ambiguous_resends": self.ambiguous_resends,
            "nodes": self.nodes,
        }


def collect_stats(db: Database, broker: RedisBroker, company_id: uuid.UUID | None = None) -> Stats:
    """Read every figure; an unreachable Redis leaves the queue depths out, not the rest."""
    params = {"company_id": company_id}
    stats = Stats(at=datetime.now(UTC))
    with db.transaction() as session:
        for row in session.execute(_PER_COMPANY_SQL, params):
            company = stats.companies.setdefault(
                str(row.company_id), {"name": row.name, "counts": dict.fromkeys(STATUSES, 0)}
            )
            company["counts"][row.status] = row.n
        oldest = session.execute(_OLDEST_SENDING_SQL, params).first()
        if oldest is not None:
            stats.oldest_sending = {
                "id": str(oldest.id),
                "company_id": str(oldest.company_id),
                "age_seconds": float(oldest.age),
                "channel_paused": bool(oldest.paused),
            }
        backlog = session.execute(_BACKLOG_SQL).one()
        stats.webhook_backlog = {
            "count": backlog.n,
            "oldest_age_seconds": float(backlog.age) if backlog.age is not None else None,
        }
        stats.paused_channels = [
            {
                "company_id": str(row.company_id),
                "company": row.name,
                "paused_at": row.paused_at.isoformat(),
                "code": row.pause_code,
                "reason": row.pause_reason,
                "waiting": row.waiting,
            }
            for row in session.execute(_PAUSED_SQL, params)
        ]
        stats.ambiguous_resends = int(session.execute(_AMBIGUOUS_SQL, params).scalar_one())
    stats.nodes = [node.as_dict() for node in live_nodes(db)]
    try:
        stats.queues = queue_depths(broker)
    except redis.RedisError as exc:
        stats.queues_error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return stats

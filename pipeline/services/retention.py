"""Retention: pruning the logs that only explain the past, in short batches.

Raw webhook bodies, delivery attempts, parked statuses, idempotency keys, the events outbox
and its deliveries, media ids and the leader's maintenance runs grow with every message;
messages and their status history are kept. Each batch is one autocommit DELETE of at most
``batch`` rows (SKIP LOCKED, so it never waits on an applier or a request holding a row),
which keeps every lock short; a table is done when a batch comes back short, and the whole
run stops when its time budget is spent (the next run goes on where it stopped).
"""

import logging
import math
import time
from dataclasses import dataclass, field
from datetime import timedelta

from db.session import Database
from pipeline.config import Settings
from pipeline.services.idempotency import KEEP_FOR

log = logging.getLogger("wapipe.retention")

BATCH = 1000

# Each statement deletes one batch of rows older than its cutoff and counts them. The
# inner SELECT finds them through the age index (see migration 0007, retention section).
_PRUNE_SQL: dict[str, str] = {
    # Processed deliveries only: an unprocessed one is still owed its statuses. One a
    # parked status still names stays until the status is applied or pruned (foreign key).
    "webhooks": """
        DELETE FROM webhook_inbox WHERE id IN (
            SELECT w.id FROM webhook_inbox w
            WHERE w.received_at < now() - make_interval(secs => %(keep_s)s)
              AND w.processed_at < now() - make_interval(secs => %(keep_s)s)
              AND NOT EXISTS (SELECT 1 FROM pending_statuses p WHERE p.webhook_id = w.id)
            LIMIT %(batch)s FOR UPDATE SKIP LOCKED)""",
    # Never the attempts of a message still owed a send: they tell how its round went.
    "attempts": """
        DELETE FROM delivery_attempts WHERE id IN (
            SELECT a.id FROM delivery_attempts a
            WHERE a.finished_at < now() - make_interval(secs => %(keep_s)s)
              AND NOT EXISTS (SELECT 1 FROM messages m
                              WHERE m.id = a.message_id AND m.status = 'sending')
            LIMIT %(batch)s FOR UPDATE SKIP LOCKED)""",
    "parked": """
        DELETE FROM pending_statuses WHERE id IN (
            SELECT id FROM pending_statuses
            WHERE created_at < now() - make_interval(secs => %(keep_s)s)
            LIMIT %(batch)s FOR UPDATE SKIP LOCKED)""",
    # The twin of the claim's reclaim rule (pipeline/services/idempotency.py).
    "idempotency_keys": """
        DELETE FROM idempotency_keys WHERE (company_id, key) IN (
            SELECT company_id, key FROM idempotency_keys
            WHERE created_at < now() - make_interval(secs => %(keep_s)s)
            LIMIT %(batch)s FOR UPDATE SKIP LOCKED)""",
    # Events' deliveries once they succeeded or failed for good (a pending one is owed).
    "event_deliveries": """
        DELETE FROM event_deliveries WHERE id IN (
            SELECT id FROM event_deliveries
            WHERE created_at < now() - make_interval(secs => %(keep_s)s)
              AND status <> 'pending'
            ORDER BY id LIMIT %(batch)s FOR UPDATE SKIP LOCKED)""",
    # The outbox: never an event not yet fanned out to the endpoints, or still owed to one.
    "events": """
        DELETE FROM events WHERE id IN (
            SELECT e.id FROM events e, event_cursors c
            WHERE e.created_at < now() - make_interval(secs => %(keep_s)s)
              AND c.name = 'fanout' AND (e.txid, e.id) <= (c.txid, c.event_id)
              AND NOT EXISTS (SELECT 1 FROM event_deliveries d
                              WHERE d.event_id = e.id AND d.status = 'pending')
            ORDER BY e.id LIMIT %(batch)s FOR UPDATE OF e SKIP LOCKED)""",
    # Media ids past Meta's own keeping of the file: a message naming one keeps its content.
    "media": """
        DELETE FROM media WHERE (id, company_id) IN (
            SELECT id, company_id FROM media
            WHERE created_at < now() - make_interval(secs => %(keep_s)s)
            LIMIT %(batch)s FOR UPDATE SKIP LOCKED)""",
    "maintenance_runs": """
        DELETE FROM maintenance_runs WHERE id IN (
            SELECT id FROM maintenance_runs
            WHERE started_at < now() - make_interval(secs => %(keep_s)s)
            LIMIT %(batch)s FOR UPDATE SKIP LOCKED)""",
}

EVENTS_FLOOR = timedelta(hours=24)
# A parked status waits for its wamid to be recorded, which happens at the latest when the
# message is sent: keep it past the maximum delivery age by this much.
PARKED_MARGIN = timedelta(days=1)


def retention_periods(settings: Settings) -> dict[str, timedelta]:
    """How long each log is kept, from the settings (with the floors that keep data still
    needed)."""
    max_age = timedelta(seconds=settings.wapipe_max_delivery_age_seconds)
    return {
        "webhooks": timedelta(days=settings.wapipe_retention_webhooks_days),
        "attempts": timedelta(days=settings.wapipe_retention_attempts_days),
        "parked": max(
            timedelta(days=settings.wapipe_retention_parked_days), max_age + PARKED_MARGIN
        ),
        "idempotency_keys": max(
            timedelta(hours=settings.wapipe_retention_idempotency_hours), KEEP_FOR
        ),
        # The stream replays from the outbox: 24 hours at least, as the API promises.
        "event_deliveries": max(
            timedelta(hours=settings.wapipe_retention_events_hours), EVENTS_FLOOR
        ),
        "events": max(timedelta(hours=settings.wapipe_retention_events_hours), EVENTS_FLOOR),
        "media": timedelta(days=settings.wapipe_retention_media_days),
        "maintenance_runs": timedelta(days=settings.wapipe_retention_maintenance_days),
    }


@dataclass
class PruneReport:
    """Rows deleted per log, the statements it took, and whether every log was done."""

    deleted: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_PRUNE_SQL, 0))
    batches: int = 0
    complete: bool = True
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.deleted.values())

    def as_dict(self) -> dict[str, object]:
        return {
            "deleted": dict(self.deleted),
            "batches": self.batches,
            "complete": self.complete,
            "seconds": round(self.seconds, 3),
        }

    def __str__(self) -> str:
        parts = ", ".join(f"{n} {name}" for name, n in self.deleted.items() if n)
        rest = "" if self.complete else " (time budget spent; the next run goes on)"
        return f"pruned {parts or 'nothing'} in {self.batches} batch(es){rest}"


def prune(
    db: Database, settings: Settings, budget_s: float = 30.0, batch: int = BATCH
) -> PruneReport:
    """Delete what is past its retention period, ``batch`` rows per statement, for at most
    about ``budget_s`` seconds (a batch started is finished)."""
    started = time.monotonic()
    deadline = started + budget_s
    report = PruneReport()
    for name, keep in retention_periods(settings).items():
        deleted, batches, done = prune_log(db, name, keep, batch, deadline)
        report.deleted[name] += deleted
        report.batches += batches
        if not done:
            report.complete = False
            break
    report.seconds = time.monotonic() - started
    if report.total or not report.complete:
        log.info("%s", report)
    return report


def prune_log(
    db: Database, name: str, keep: timedelta, batch: int = BATCH, deadline: float = math.inf
) -> tuple[int, int, bool]:
    """Prune one log (a key of the statements above) until a batch comes back short or the
    monotonic ``deadline`` passes: (rows deleted, batches, whether it is done)."""
    sql = f"WITH gone AS ({_PRUNE_SQL[name]} RETURNING 1) SELECT count(*) FROM gone"
    params = {"keep_s": keep.total_seconds(), "batch": batch}
    deleted = batches = 0
    while time.monotonic() < deadline:
        [row] = db.run(sql, params)  # one autocommit statement: its locks end with it
        batches += 1
        deleted += int(row.count)
        if row.count < batch:
            return deleted, batches, True
    return deleted, batches, False

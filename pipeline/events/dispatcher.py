"""The event dispatcher: a thread in every worker process that delivers the outbox.

Not Dramatiq jobs: PostgreSQL already holds every delivery with its due time, so a Redis
wipe loses nothing and there is no second queue to keep in step. Each round, one process
fans new outbox rows out to the endpoints subscribed to them (a durable cursor, so each
event becomes one delivery per endpoint once), then every process claims due deliveries
(SKIP LOCKED, a lease of `LEASE_S` in `next_attempt_at`, so a killed worker's deliveries
come due again) and POSTs them from a thread pool.

One slow or dead endpoint delays no other: a process holds at most `PER_ENDPOINT` of an
endpoint's deliveries in flight and claims none of an endpoint already at that, and a
failed delivery waits out its backoff in PostgreSQL, holding no thread.
"""

import json
import logging
import random
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import dramatiq
import urllib3
from sqlalchemy import exc as sa_exc

from db.session import Database
from pipeline.config import Settings
from pipeline.crypto import TokenCipher
from pipeline.events.signing import signature_header
from pipeline.events.urls import UnsafeUrl, check_url
from pipeline.services import events

log = logging.getLogger("wapipe.events")

TIMEOUT_S = 15.0  # a 2xx within this is success (Standard Webhooks, Svix)
# A claimed delivery's lease: longer than one POST may take (TIMEOUT_S) and its record,
# so only a dead process's deliveries come due again, this long after it died.
LEASE_S = 30
POOL = 32
PER_ENDPOINT = 16
FANOUT_BATCH = 1000
IDLE_POLL_S = 0.25
# While busy: let finished POSTs and new events gather a moment, so each round's
# statements carry many.
BUSY_POLL_S = 0.05

# The outbox rows after the fan-out's cursor, of ended transactions only (see events.py),
# become one delivery per subscribed, enabled endpoint of their company; the cursor moves
# past them in the same statement. SKIP LOCKED: one process fans out at a time. The batch
# is a LATERAL subquery so the cursor bounds the index scan: joined as a plain table, the
# cursor was a filter over an index scan from the first event retained (3,561 buffers per
# fan-out with 9,000 events retained, ten fan-outs a second).
_FANOUT_SQL = """
WITH cursor AS (
    SELECT txid, event_id FROM event_cursors WHERE name = 'fanout' FOR UPDATE SKIP LOCKED
), batch AS (
    SELECT e.id, e.txid, e.company_id, e.type FROM cursor c, LATERAL (
        SELECT e.id, e.txid, e.company_id, e.type FROM events e
        WHERE (e.txid, e.id) > (c.txid, c.event_id)
          AND e.txid < (pg_snapshot_xmin(pg_current_snapshot())::text)::bigint
        ORDER BY e.txid, e.id LIMIT %(limit)s) e
), fanned AS (
    INSERT INTO event_deliveries (event_id, endpoint_id)
    SELECT b.id, w.id FROM batch b JOIN webhook_endpoints w
      ON w.company_id = b.company_id AND w.disabled_at IS NULL
     AND b.type = ANY(w.event_types)
    ORDER BY b.txid, b.id
    RETURNING id
), moved AS (
    UPDATE event_cursors SET txid = last.txid, event_id = last.id
    FROM (SELECT txid, id FROM batch ORDER BY txid DESC, id DESC LIMIT 1) last
    WHERE name = 'fanout'
)
SELECT (SELECT count(*) FROM batch) AS events, (SELECT count(*) FROM fanned) AS deliveries
"""

# Due deliveries, at most `per_endpoint` of each endpoint and none of an endpoint this
# process already has enough of in flight, leased for LEASE_S.
_CLAIM_SQL = """
WITH due AS (
    SELECT d.id FROM event_deliveries d
    WHERE d.id IN (
        SELECT id FROM (
            SELECT q.id, row_number() OVER (PARTITION BY q.endpoint_id
                                            ORDER BY q.next_attempt_at, q.id) AS n
            FROM event_deliveries q JOIN webhook_endpoints w ON w.id = q.endpoint_id
            WHERE q.status = 'pending' AND q.next_attempt_at <= now()
              AND w.disabled_at IS NULL AND q.endpoint_id <> ALL(%(full)s)
        ) ranked WHERE n <= %(per_endpoint)s
    )
    ORDER BY d.next_attempt_at LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE event_deliveries d SET attempts = d.attempts + 1, last_attempt_at = now(),
    next_attempt_at = now() + make_interval(secs => %(lease)s)
FROM due, events e, webhook_endpoints w
WHERE d.id = due.id AND e.id = d.event_id AND w.id = d.endpoint_id
RETURNING d.id AS delivery_id, d.attempts, d.endpoint_id, w.url, w.secret,
          CASE WHEN w.previous_secret_until > now() THEN w.previous_secret END AS previous,
          e.id, e.type, e.company_id, e.message_id, e.data, e.created_at
"""

# Successes are recorded in batches (one statement for all that finished since the last
# round: under load a round finishes tens); the attempt guards against a lease that ran out.
_SUCCEEDED_SQL = """
WITH done AS (
    UPDATE event_deliveries d SET status = 'succeeded', last_http_status = v.http_status,
        last_error = NULL
    FROM unnest(%(ids)s::bigint[], %(attempts)s::int[], %(statuses)s::int[])
         AS v(id, attempt, http_status)
    WHERE d.id = v.id AND d.attempts = v.attempt
    RETURNING d.endpoint_id
)
UPDATE webhook_endpoints SET failing_since = NULL
WHERE id IN (SELECT endpoint_id FROM done) AND failing_since IS NOT NULL
"""

_FAILED_SQL = """
WITH done AS (
    UPDATE event_deliveries SET
        status = CASE WHEN %(final)s THEN 'failed' ELSE 'pending' END,
        next_attempt_at = now() + make_interval(secs => %(delay)s),
        last_http_status = %(http_status)s, last_error = %(error)s
    WHERE id = %(id)s AND attempts = %(attempt)s
    RETURNING endpoint_id
)
UPDATE webhook_endpoints SET failing_since = now()
WHERE id = (SELECT endpoint_id FROM done) AND failing_since IS NULL
"""


def retry_delays(schedule: str) -> list[float]:
    """Seconds after each failed attempt before the next (WAPIPE_EVENTS_RETRY_SCHEDULE)."""
    return [float(part) for part in schedule.split(",") if part.strip()]


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    http_status: int | None = None
    error: str | None = None


@dataclass
class Dispatcher:
    """Fans out and delivers events until stopped."""

    db: Database
    settings: Settings
    # urllib3, as the provider client: a POST costs a third of httpx's CPU. No redirects
    # (a 3xx is a failure, and must not lead past the URL guard) and no retries of its own.
    client: urllib3.PoolManager = field(
        default_factory=lambda: urllib3.PoolManager(
            num_pools=64,
            maxsize=PER_ENDPOINT,
            timeout=urllib3.Timeout(connect=5.0, read=TIMEOUT_S),
            retries=False,
        )
    )

    def __post_init__(self) -> None:
        self._delays = retry_delays(self.settings.wapipe_events_retry_schedule)
        self._cipher = TokenCipher.from_settings(self.settings)
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._in_flight: Counter[uuid.UUID] = Counter()
        self._succeeded: list[tuple[int, int, int | None]] = []
        self._pool = ThreadPoolExecutor(POOL, thread_name_prefix="event-post")
        self._thread = threading.Thread(target=self._loop, name="event-dispatcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._record_successes()
        self.client.clear()

    def _loop(self) -> None:
        wait = BUSY_POLL_S
        while not self._stopping.is_set():
            try:
                worked = self.run_once()
            except (sa_exc.SQLAlchemyError, OSError) as error:
                log.warning("dispatching events failed (%s); again in 1s", type(error).__name__)
                self._stopping.wait(1.0)
                continue
            except Exception:  # the thread must outlive any one failure
                log.exception("dispatching events failed; again in 1s")
                self._stopping.wait(1.0)
                continue
            wait = BUSY_POLL_S if worked else min(wait * 2, IDLE_POLL_S)
            self._wake.wait(wait)
            self._wake.clear()

    def run_once(self) -> bool:
        """One fan-out and one claim; whether there was anything to deliver (events no
        endpoint wants only move the cursor: the loop then slows down as when idle)."""
        self._record_successes()
        events_read, deliveries = self.fan_out()
        claimed = self._claim()
        for row in claimed:
            self._submit(row)
        return bool(claimed) or deliveries > 0 or events_read >= FANOUT_BATCH

    def fan_out(self) -> tuple[int, int]:
        """New outbox rows become deliveries to their endpoints: (rows read, deliveries)."""
        [row] = self.db.run(_FANOUT_SQL, {"limit": FANOUT_BATCH})
        return int(row.events), int(row.deliveries)

    def _claim(self) -> list[Any]:
        with self._lock:
            free = POOL - sum(self._in_flight.values())
            full = [e for e, n in self._in_flight.items() if n >= PER_ENDPOINT]
        if free <= 0:
            return []
        params = {
            "full": full,
            "per_endpoint": PER_ENDPOINT,
            "limit": free,
            "lease": LEASE_S,
        }
        rows = self.db.run(_CLAIM_SQL, params)
        if not rows:
            return []
        with self.db.transaction() as session:
            bodies = events.render(session, rows)
        return [(row, body) for row, body in zip(rows, bodies, strict=True)]

    def _submit(self, claimed: tuple[Any, dict[str, Any]]) -> None:
        row, _ = claimed
        with self._lock:
            self._in_flight[row.endpoint_id] += 1
        endpoint_id: uuid.UUID = row.endpoint_id
        future = self._pool.submit(self._deliver, *claimed)
        future.add_done_callback(lambda done: self._done(endpoint_id, done))

    def _done(self, endpoint_id: uuid.UUID, future: Future[None]) -> None:
        with self._lock:
            self._in_flight[endpoint_id] -= 1
            if self._in_flight[endpoint_id] <= 0:
                del self._in_flight[endpoint_id]
        if (error := future.exception()) is not None:
            log.error("an event delivery crashed: %s", type(error).__name__)
        self._wake.set()

    def _deliver(self, row: Any, body: dict[str, Any]) -> None:
        outcome = self._post(row, json.dumps(body, separators=(",", ":")).encode())
        self._record(row, outcome)

    def _post(self, row: Any, payload: bytes) -> Outcome:
        try:
            check_url(row.url, self.settings.wapipe_events_allow_private_urls)
        except UnsafeUrl as exc:
            return Outcome(False, error=f"refused: {exc}")
        msg_id = events.public_id(row.id)
        timestamp = int(time.time())
        secrets = [self._cipher.decrypt(row.secret)]
        if row.previous is not None:
            secrets.append(self._cipher.decrypt(row.previous))
        headers = {
            "content-type": "application/json",
            "user-agent": "wapipe-webhooks/1",
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header(secrets, msg_id, timestamp, payload),
        }
        try:
            response = self.client.request(
                "POST", row.url, body=payload, headers=headers, redirect=False
            )
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            # The class only: an error's text may quote the URL's query (a receiver's token).
            return Outcome(False, error=type(exc).__name__)
        if 200 <= response.status < 300:
            return Outcome(True, response.status)
        return Outcome(False, response.status, f"HTTP {response.status}")

    def _record_successes(self) -> None:
        with self._lock:
            done, self._succeeded = self._succeeded, []
        if done:
            ids, attempts, statuses = (list(column) for column in zip(*done, strict=True))
            self.db.run(_SUCCEEDED_SQL, {"ids": ids, "attempts": attempts, "statuses": statuses})

    def _record(self, row: Any, outcome: Outcome) -> None:
        if outcome.ok:
            # Recorded by the loop's next round; a process killed before that sends these
            # again when their lease ends (receivers deduplicate by webhook-id).
            with self._lock:
                self._succeeded.append((row.delivery_id, row.attempts, outcome.http_status))
            return
        params: dict[str, Any] = {
            "id": row.delivery_id,
            "attempt": row.attempts,
            "http_status": outcome.http_status,
        }
        final = row.attempts > len(self._delays)
        delay = 0.0 if final else self._delays[row.attempts - 1] * random.uniform(1.0, 1.1)
        params |= {"final": final, "delay": delay, "error": (outcome.error or "")[:200]}
        self.db.run(_FAILED_SQL, params)
        log.info(
            "event delivery failed",
            extra={"event_id": events.public_id(row.id), "attempt": row.attempts},
        )


class DispatcherMiddleware(dramatiq.Middleware):
    """Runs a Dispatcher beside the Dramatiq worker of every worker process."""

    def __init__(self, make: Any) -> None:
        self._make = make
        self._dispatcher: Dispatcher | None = None

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._dispatcher = self._make()
        self._dispatcher.start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        if self._dispatcher is not None:
            self._dispatcher.stop()
            self._dispatcher = None

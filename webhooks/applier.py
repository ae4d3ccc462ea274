"""The webhook applier: a thread in every worker process that drains the inbox in batches.

Statuses are not Dramatiq jobs: one job and one transaction per webhook POST cost more than
the status itself. Each applier claims the oldest unprocessed deliveries (SKIP LOCKED, so
appliers in several processes share the work), applies them in one transaction, and goes
on while there is a backlog; when the inbox is empty it waits for the NOTIFY that stores a
delivery, or polls after a second if that notification is missed (a reconnect). Under load
it lets deliveries gather for a moment between batches, so one transaction carries many.
PostgreSQL holds every delivery until it is applied, so nothing waits on Redis.
"""

import logging
import threading
from collections.abc import Callable

import dramatiq
import psycopg
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from db.session import Database
from webhooks.service import CHANNEL, apply_pending_deliveries, isolate_failures
from workers.broker import WEBHOOKS

log = logging.getLogger("wapipe.webhooks.applier")

# Deliveries per transaction: large enough that a burst costs few round trips, small enough
# that one transaction holds its row locks for milliseconds.
BATCH = 200
# How long an idle applier waits for a notification before it looks anyway.
IDLE_POLL_S = 1.0
# After a partial batch, let deliveries gather this long before the next claim: at hundreds
# of webhooks a second a batch then carries tens of statuses for one transaction's round
# trips, instead of one each. Statuses wait at most this much longer to be applied.
GATHER_S = 0.05
# After a database error (PostgreSQL restarting, a deadlock): wait, then try again.
ERROR_BACKOFF_S = 0.5
ERROR_BACKOFF_MAX_S = 5.0


class WebhookApplier:
    """Applies stored deliveries until stopped."""

    def __init__(self, db: Database, batch: int = BATCH) -> None:
        self._db = db
        self._batch = batch
        # The engine's URL for libpq (no SQLAlchemy driver suffix).
        self._dsn = make_url(db.engine.url).set(drivername="postgresql")
        self._listener: psycopg.Connection[tuple[object, ...]] | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="webhook-applier", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        try:
            self._loop()
        finally:
            self._close_listener()

    def _loop(self) -> None:
        backoff = ERROR_BACKOFF_S
        while not self._stopping.is_set():
            self._listen()  # before looking, so nothing stored meanwhile goes unnoticed
            try:
                applied = self.apply_once()
            except sa_exc.OperationalError as error:
                log.warning("applying webhooks failed (%s); again in %.1fs", error.orig, backoff)
                self._close_listener()
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, ERROR_BACKOFF_MAX_S)
                continue
            backoff = ERROR_BACKOFF_S
            if applied == 0:
                self._wait_for_news()
            elif applied < self._batch:
                self._stopping.wait(GATHER_S)

    def apply_once(self) -> int:
        """One batch; a batch that fails for its content is applied delivery by delivery."""
        try:
            return len(apply_pending_deliveries(self._db, self._batch))
        except sa_exc.OperationalError:
            raise  # the database, not the batch: retried whole
        except Exception:
            log.exception("a webhook batch failed; applying its deliveries one by one")
            return isolate_failures(self._db, self._batch)

    def _listen(self) -> None:
        if self._listener is not None:
            return
        try:
            dsn = self._dsn.render_as_string(hide_password=False)
            self._listener = psycopg.connect(dsn, autocommit=True)
            self._listener.execute(f"LISTEN {CHANNEL}")
        except psycopg.Error as error:
            log.warning("cannot LISTEN for webhooks (%s); polling instead", error)
            self._close_listener()

    def _wait_for_news(self) -> None:
        if self._listener is None:
            self._stopping.wait(IDLE_POLL_S)
            return
        try:
            for _ in self._listener.notifies(timeout=IDLE_POLL_S, stop_after=1):
                break
            # Notifications of deliveries the last batches took: one wake-up is enough.
            for _ in self._listener.notifies(timeout=0):
                pass
        except psycopg.Error:
            self._close_listener()

    def _close_listener(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None


class WebhookApplierMiddleware(dramatiq.Middleware):
    """Runs a WebhookApplier beside the Dramatiq worker of each process that consumes the
    `webhooks` queue (all, unless `--queues` leaves it out)."""

    def __init__(self, make_applier: Callable[[], WebhookApplier]) -> None:
        self._make_applier = make_applier
        self._applier: WebhookApplier | None = None

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        if worker.consumer_whitelist and WEBHOOKS not in worker.consumer_whitelist:
            return
        self._applier = self._make_applier()
        self._applier.start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        if self._applier is not None:
            self._applier.stop()
            self._applier = None

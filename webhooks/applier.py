"""The webhook applier: a thread in every worker process that drains the inbox in batches.

Statuses are not Dramatiq jobs: one job and one transaction per webhook POST cost more than
the status itself. Each applier claims the oldest unprocessed deliveries (SKIP LOCKED, so
appliers in several processes share the work), applies them in one transaction, and goes
on while there is a backlog; otherwise it lets deliveries gather for a moment, so one
transaction carries many, and polls less often while the inbox stays empty. PostgreSQL
holds every delivery until it is applied, so nothing waits on Redis.
"""

import logging
import threading
from collections.abc import Callable

import dramatiq
from sqlalchemy import exc as sa_exc

from db.session import Database
from webhooks.service import TRY_BACKOFF_S, apply_pending_deliveries, failure_reason
from workers.broker import WEBHOOKS

log = logging.getLogger("wapipe.webhooks.applier")

# Deliveries per transaction: large enough that a burst costs few round trips, small enough
# that one transaction holds its messages' row locks briefly (the worker recording a send
# waits on them: with 200, records waited 12 ms on average under a backlog).
BATCH = 50
# After a partial batch, let deliveries gather this long before the next claim: at hundreds
# of webhooks a second a batch then carries tens of statuses for one transaction's round
# trips, instead of one each. Statuses wait at most this much longer to be applied.
GATHER_S = 0.05
# While the inbox stays empty the wait grows to this: an idle worker costs a few cheap
# index lookups a second, and the first webhook after a quiet spell waits at most this.
IDLE_POLL_S = 0.25
# After a database error (PostgreSQL restarting, a deadlock): wait, then try again.
ERROR_BACKOFF_S = 0.5
ERROR_BACKOFF_MAX_S = 5.0


class WebhookApplier:
    """Applies stored deliveries until stopped."""

    def __init__(
        self, db: Database, batch: int = BATCH, try_backoff_s: float = TRY_BACKOFF_S
    ) -> None:
        self._db = db
        self._batch = batch
        self._try_backoff_s = try_backoff_s
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="webhook-applier", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._thread.join(timeout)

    def _loop(self) -> None:
        backoff = ERROR_BACKOFF_S
        wait = GATHER_S
        while not self._stopping.is_set():
            try:
                applied = self.apply_once()
            except Exception as error:  # the thread must outlive any one failure
                reason = (
                    error.orig
                    if isinstance(error, sa_exc.OperationalError)
                    else failure_reason(error)
                )
                log.warning("applying webhooks failed (%s); again in %.1fs", reason, backoff)
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, ERROR_BACKOFF_MAX_S)
                continue
            backoff = ERROR_BACKOFF_S
            if applied >= self._batch:
                continue  # a backlog: straight on
            wait = GATHER_S if applied else min(wait * 2, IDLE_POLL_S)
            self._stopping.wait(wait)

    def apply_once(self) -> int:
        """One batch (applied item by item if it fails as a whole); how many were applied."""
        return len(apply_pending_deliveries(self._db, self._batch, 0, self._try_backoff_s))


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

"""The pipeline's state as gauges, read from PostgreSQL and Redis at scrape time.

Served by the API's /metrics only (one reader, whatever the number of workers): alert on
these, not on any one process's counters. Each query reads a partial index, so a scrape
costs a few milliseconds however many messages are done.
"""

import logging
from collections.abc import Iterator

from dramatiq.brokers.redis import RedisBroker
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from db.session import Database
from workers.queues import RedisQueues

log = logging.getLogger("wapipe.metrics")

_STATE_SQL = """
SELECT
  (SELECT EXTRACT(EPOCH FROM now() - min(queued_at)) FROM messages
    WHERE status = 'sending' AND deleted_at IS NULL) AS oldest_sending,
  (SELECT count(*) FROM webhook_inbox WHERE processed_at IS NULL) AS webhook_backlog,
  (SELECT count(*) FROM channels WHERE paused_at IS NOT NULL) AS channels_paused
"""


class PipelineState(Collector):
    def __init__(self, db: Database, broker: RedisBroker) -> None:
        self._db = db
        self._queues = RedisQueues(broker)

    def collect(self) -> Iterator[Metric]:
        yield from self._from_postgres()
        yield from self._from_redis()

    def _from_postgres(self) -> Iterator[Metric]:
        try:
            [row] = self._db.run(_STATE_SQL)
        except Exception as error:  # a scrape must not fail because one source is down
            log.warning("metrics: PostgreSQL unreadable (%s)", type(error).__name__)
            return
        yield GaugeMetricFamily(
            "wapipe_oldest_sending_seconds",
            "Age of the oldest message still owed a send (0 when none).",
            value=float(row.oldest_sending or 0.0),
        )
        yield GaugeMetricFamily(
            "wapipe_webhook_backlog",
            "Stored provider webhooks not applied yet.",
            value=row.webhook_backlog,
        )
        yield GaugeMetricFamily(
            "wapipe_channels_paused", "Channels paused.", value=row.channels_paused
        )

    def _from_redis(self) -> Iterator[Metric]:
        try:
            depths = self._queues.depths()
        except Exception as error:
            log.warning("metrics: Redis unreadable (%s)", type(error).__name__)
            return
        depth = GaugeMetricFamily(
            "wapipe_queue_depth", "Jobs per queue and state.", labels=["queue", "state"]
        )
        dead = 0
        for queue, d in depths.items():
            for state in ("ready", "in_flight", "delayed", "dead"):
                depth.add_metric([queue, state], getattr(d, state))
            dead += d.dead
        yield depth
        yield GaugeMetricFamily("wapipe_dead_letters", "Jobs in dead-letter queues.", value=dead)

"""The Dramatiq broker, configured explicitly from Settings (never at import)."""

import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import Retries, ShutdownNotifications, TimeLimit

from pipeline.config import Settings

DELIVERIES = "deliveries"
# Not a Dramatiq queue any more: naming it in `wapipe worker --queues` runs the webhook
# applier in that worker; dead letters left on it by older versions can still be replayed.
WEBHOOKS = "webhooks"
QUEUES = (DELIVERIES, WEBHOOKS)


def make_broker(settings: Settings) -> RedisBroker:
    # Fail fast on a dead socket (a Redis restart) instead of hanging a worker thread.
    client = redis.Redis.from_url(
        settings.redis_url, socket_timeout=10, socket_connect_timeout=5, health_check_interval=30
    )
    return RedisBroker(  # type: ignore[no-untyped-call]
        client=client,
        namespace=settings.wapipe_queue_namespace,
        heartbeat_timeout=settings.wapipe_broker_heartbeat_ms,
        # Dead workers' jobs are requeued only during "maintenance", which Dramatiq runs on
        # 0.1% of commands by default: minutes on a quiet queue. 2% costs one cheap ZRANGE.
        maintenance_chance=20_000,
        # Dramatiq's defaults less AgeLimit, Callbacks and Pipelines, which no actor of ours
        # uses: every hook of every job (enqueue, process, ack) goes through each middleware.
        middleware=[TimeLimit(), ShutdownNotifications(), Retries()],
    )

"""The Dramatiq broker, configured explicitly from Settings (never at import)."""

from dramatiq.brokers.redis import RedisBroker

from pipeline.config import Settings

DELIVERIES = "deliveries"
WEBHOOKS = "webhooks"
QUEUES = (DELIVERIES, WEBHOOKS)

# How long a worker may stay silent before its unacknowledged messages are given to
# another worker. Dramatiq's default (60 s) strands a killed worker's messages for a minute.
HEARTBEAT_TIMEOUT_MS = 15_000


def make_broker(settings: Settings) -> RedisBroker:
    return RedisBroker(  # type: ignore[no-untyped-call]
        url=settings.redis_url,
        namespace=settings.wapipe_queue_namespace,
        heartbeat_timeout=HEARTBEAT_TIMEOUT_MS,
        # Redis client settings: fail fast on a dead socket instead of hanging a thread.
        socket_timeout=10,
        socket_connect_timeout=5,
        health_check_interval=30,
    )

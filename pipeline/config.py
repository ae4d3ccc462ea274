"""Typed settings, read once from the environment. Nothing else reads os.environ."""

from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of wapipe; names are the environment variables operators set."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    database_url: str = "postgresql+psycopg:///wapipe"
    redis_url: str = "redis://127.0.0.1:6379/0"
    whatsapp_api_base_url: str = "http://127.0.0.1:8090/v21.0"
    whatsapp_app_secret: str = Field(default="dev-app-secret", repr=False)
    whatsapp_verify_token: str = Field(default="dev-verify-token", repr=False)
    # Fernet keys (comma-separated; the first encrypts, all decrypt, so keys can be rotated)
    # for channel access tokens at rest. Empty is allowed only with the loopback fake.
    wapipe_secret_key: str = Field(default="", repr=False)
    # Requests a second one API key may make (a burst of twice as many); 0 turns it off.
    # High by default so a bulk sender is not slowed; `wapipe keys create --rate N` per key.
    wapipe_api_rate_limit: float = 500.0

    # Dramatiq keys live under this prefix, so several deployments (or test runs) can share Redis.
    wapipe_queue_namespace: str = "wapipe"
    # The inbox's cookies are marked Secure when the request came over HTTPS. Set this where
    # TLS ends at a proxy that gunicorn does not trust for X-Forwarded-Proto
    # (FORWARDED_ALLOW_IPS): the cookies are then Secure whatever the request says.
    wapipe_secure_cookies: bool = False
    # A claimed message is in flight in one worker until its lease expires. The worker's
    # heartbeat renews it every 2 s while the send runs, and a worker that dies gives up
    # its leases at once (its PostgreSQL session ends): this only bounds a live worker
    # that cannot reach PostgreSQL.
    wapipe_lease_seconds: int = 30
    wapipe_http_timeout_seconds: float = 10.0
    wapipe_http_tries: int = 3
    # Delivery attempts (Dramatiq deliveries of the job) before a message is failed for good.
    wapipe_max_attempts: int = 6
    wapipe_retry_min_backoff_ms: int = 1_000
    wapipe_retry_max_backoff_ms: int = 300_000
    # A message still not delivered this long after intake fails instead of retrying forever.
    wapipe_max_delivery_age_seconds: int = 24 * 3600
    wapipe_db_pool_size: int = 10
    # How long the API trusts an API key it has checked (no database round trip per
    # request); a revoked key or a changed role takes effect within this. 0 checks every time.
    wapipe_auth_cache_seconds: float = 5.0
    # After an ambiguous send (timeout after the request left) wait this long for a status
    # webhook carrying our id before sending again: it adopts the wamid and ends the job.
    wapipe_ambiguous_wait_ms: int = 15_000
    # How long a silent worker keeps its unacknowledged jobs before Redis hands them to
    # another worker. Dramatiq's default (60 s) strands a killed worker's jobs for a minute.
    wapipe_broker_heartbeat_ms: int = 15_000
    # The sweeper re-enqueues a `sending` message (or an unprocessed webhook) whose job is
    # overdue by this long: long enough not to race the normal path, short enough to recover.
    wapipe_sweep_grace_seconds: int = 60
    wapipe_sweep_batch: int = 1000
    # Retention (pipeline/services/retention.py): how long the logs that only explain the
    # past are kept before they are pruned. Messages and their status history are kept.
    # Processed raw webhook bodies (an unprocessed one is never pruned): about 1 KB each,
    # three per message sent, so 30 days at 1M messages a day is about 90 GB.
    wapipe_retention_webhooks_days: int = 30
    # Delivery attempts (never those of a message still `sending`).
    wapipe_retention_attempts_days: int = 90
    # Statuses parked for a wamid not yet recorded; kept at least the maximum delivery age
    # plus a day whatever this says, since the send they wait for may still come.
    wapipe_retention_parked_days: int = 7
    # Idempotency keys: the API promises 24 hours, so a lower value counts as 24.
    wapipe_retention_idempotency_hours: int = 24
    # The leader's maintenance_runs log.
    wapipe_retention_maintenance_days: int = 30
    # Which media ids a company uploaded or received (what it may download): Meta keeps a
    # media file 30 days, after which its id downloads nothing.
    wapipe_retention_media_days: int = 30
    # Log lines as JSON objects or text; empty: JSON unless stderr is a terminal.
    wapipe_log_format: Literal["", "json", "text"] = ""
    # Each `wapipe worker` serves /metrics and /healthz here (0: off). A port already taken
    # (a second worker group on the host) is logged and the worker runs on without it.
    wapipe_metrics_host: str = "0.0.0.0"  # scraped from outside the host
    wapipe_metrics_port: int = 9191
    # Events (issue 10). Webhook endpoints on loopback, private, link-local or metadata
    # addresses are refused unless this is set (local development: `wapipe up` sets it).
    wapipe_events_allow_private_urls: bool = False
    # Seconds between a failed attempt and the next (Svix's schedule after the first,
    # immediate, try; jittered by up to 10%): 8 tries over about 27 hours, then `failed`.
    wapipe_events_retry_schedule: str = "5,300,1800,7200,18000,36000,36000"
    # An endpoint whose every attempt failed for this long is disabled (Svix: 5 days).
    wapipe_events_disable_after_hours: int = 120
    # The outbox (and finished deliveries) are pruned after this; the stream replays from
    # it, so a lower value counts as 24.
    wapipe_retention_events_hours: int = 72
    # Crash-test fault points (see pipeline/faults.py); empty in production.
    wapipe_faults: str = ""


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read on first use."""
    return Settings()

"""Requests a second per API key: a token bucket in Redis, one script call per request.

Each key has its own bucket (so one company's traffic never uses up another's), shared by
every API process. It refills at the key's rate and holds two seconds' worth, so a client
may burst to twice its rate. If Redis cannot be reached the API answers anyway (it fails
open, and says so once in the log): a limit is not worth an outage.
"""

import logging
import math
import threading
import time
import uuid
from dataclasses import dataclass

import redis

log = logging.getLogger("wapipe.ratelimit")

# Seconds of the rate a bucket holds: the burst.
BURST_SECONDS = 2.0
# After Redis failed, requests go unlimited this long before it is tried again, so a Redis
# that hangs costs one request its timeout, not every request.
RETRY_REDIS_AFTER_S = 1.0

# KEYS[1] the bucket; ARGV rate (tokens/s), burst (tokens). Returns {allowed, wait_ms}.
# Redis's own clock, so every API process agrees on time.
_BUCKET_SCRIPT = """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 't', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local allowed, wait_ms = 0, 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait_ms = math.ceil((1 - tokens) / rate * 1000)
end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, wait_ms}
"""


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    retry_after_seconds: int = 0


ALLOWED = Verdict(True)


class ApiRateLimiter:
    """Decides whether an API key may make one more request now."""

    def __init__(self, client: redis.Redis, namespace: str, default_rate: float) -> None:
        self._prefix = f"{namespace}:ratelimit:"
        self._default_rate = default_rate
        self._script = client.register_script(_BUCKET_SCRIPT)
        self._failing = threading.Event()
        self._skip_until = 0.0

    def check(self, key_id: uuid.UUID | None, rate: int | None) -> Verdict:
        per_second = float(rate) if rate else self._default_rate
        if key_id is None or per_second <= 0:
            return ALLOWED
        if time.monotonic() < self._skip_until:
            return ALLOWED
        burst = max(1.0, per_second * BURST_SECONDS)
        try:
            allowed, wait_ms = self._script(
                keys=[self._prefix + key_id.hex], args=[per_second, burst]
            )
        except redis.RedisError as exc:
            self._failed(exc)
            return ALLOWED
        if self._failing.is_set():
            self._failing.clear()
            log.warning("rate limiting works again (Redis reachable)")
        if allowed:
            return ALLOWED
        return Verdict(False, max(1, math.ceil(int(wait_ms) / 1000)))

    def _failed(self, exc: redis.RedisError) -> None:
        self._skip_until = time.monotonic() + RETRY_REDIS_AFTER_S
        if not self._failing.is_set():
            self._failing.set()
            log.warning("rate limiting is off until Redis is back: %s", type(exc).__name__)

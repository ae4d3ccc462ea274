"""Requests a second per API key: a token bucket in Redis, shared by every API process.

Each key has its own bucket (so one company's traffic never uses up another's). It refills at
the key's rate and holds two seconds' worth, so a client may burst to twice its rate. If Redis
cannot be reached the API answers anyway (it fails open, and says so once in the log): a limit
is not worth an outage.

A process takes a key's tokens from Redis a few at a time (a hundredth of a second's worth)
and spends them itself: a script call per request was a tenth of the intake's CPU. No more
requests are let through than the bucket holds; tokens a process took and did not spend
within a second are dropped, at most a hundredth of the rate per process.
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

# Seconds of a key's rate a process takes from Redis at once (at least one token).
TAKE_SECONDS = 0.01
# Tokens taken and not spent within this are dropped: they belong to a second gone by.
HOLD_S = 1.0

# KEYS[1] the bucket; ARGV rate (tokens/s), burst (tokens), tokens wanted. Returns {taken,
# wait_ms}: up to the tokens wanted, or none and how long until one. Redis's own clock, so
# every API process agrees on time.
_BUCKET_SCRIPT = """
local rate, burst, want = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 't', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local taken, wait_ms = 0, 0
if tokens >= 1 then
  taken = math.min(want, math.floor(tokens))
  tokens = tokens - taken
else
  wait_ms = math.ceil((1 - tokens) / rate * 1000)
end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {taken, wait_ms}
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
        # Per key: tokens taken from its bucket and not yet spent, and until when they hold.
        self._held: dict[uuid.UUID, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def check(self, key_id: uuid.UUID | None, rate: int | None) -> Verdict:
        per_second = float(rate) if rate else self._default_rate
        if key_id is None or per_second <= 0:
            return ALLOWED
        now = time.monotonic()
        if now < self._skip_until or self._spend_held(key_id, now):
            return ALLOWED
        burst = max(1.0, per_second * BURST_SECONDS)
        want = max(1, int(per_second * TAKE_SECONDS))
        try:
            answer = self._script(keys=[self._prefix + key_id.hex], args=[per_second, burst, want])
        except redis.RedisError as exc:
            self._failed(exc)
            return ALLOWED
        if self._failing.is_set():
            self._failing.clear()
            log.warning("rate limiting works again (Redis reachable)")
        taken, wait_ms = (int(n) for n in answer)
        if taken > 1:
            self._hold(key_id, taken - 1, now)  # this request spends one
        if taken:
            return ALLOWED
        return Verdict(False, max(1, math.ceil(wait_ms / 1000)))

    def _spend_held(self, key_id: uuid.UUID, now: float) -> bool:
        """Spend one of the key's tokens this process holds, if any still hold."""
        with self._lock:
            tokens, until = self._held.get(key_id, (0, 0.0))
            if tokens <= 0 or now >= until:
                self._held.pop(key_id, None)
                return False
            self._held[key_id] = (tokens - 1, until)
            return True

    def _hold(self, key_id: uuid.UUID, tokens: int, now: float) -> None:
        with self._lock:  # added to what another thread took meanwhile, if it still holds
            held, until = self._held.get(key_id, (0, 0.0))
            self._held[key_id] = ((held if until > now else 0) + tokens, now + HOLD_S)

    def _failed(self, exc: redis.RedisError) -> None:
        self._skip_until = time.monotonic() + RETRY_REDIS_AFTER_S
        if not self._failing.is_set():
            self._failing.set()
            log.warning("rate limiting is off until Redis is back: %s", type(exc).__name__)

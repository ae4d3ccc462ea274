"""Per-channel send pacing in Redis: the send-time gate and the enqueue-time slot schedule.

Two keys per channel, under the broker's namespace (``<ns>:pace:{<company>}:…``; the braces
keep a channel's keys in one Redis Cluster slot), each read and written by one Lua script
so every worker on every host sees one state:

- ``sent``: a sorted set of the sends admitted in the last second (sliding-window log).
  A send is admitted only while fewer than ``rate`` are in it: that is the guarantee.
- ``next``: when the channel's next free send slot is (ms, Redis clock). Enqueueing a job
  reserves slots ``1/rate`` apart and delays each job to its slot, so a backlog waits in the
  delayed queue and the ready queue holds about one second of any channel's sends.
- ``hold``: present while the provider told the channel to slow down (130429): no slot is
  given and no send admitted until it expires.

Times come from Redis (``TIME``), so hosts with skewed clocks still share one window.
"""

import uuid

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker

from pipeline.services.ports import ChannelPace, PacingUnavailable

WINDOW_MS = 1000

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
"""

# Reserve the next `count` slots: from the later of now, the channel's next free slot and
# the end of a hold; sets `first` (the first slot) and `interval` (ms between slots). The
# intake's enqueue runs it and writes each job into its slot (workers/slotted.py).
# KEYS[1] `next`, KEYS[2] `hold`; ARGV[1] rate, ARGV[2] window, ARGV[3] count.
RESERVE_SLOTS_LUA = (
    _NOW
    + """
local interval = tonumber(ARGV[2]) / tonumber(ARGV[1])
local count = tonumber(ARGV[3])
local first = math.max(now, tonumber(redis.call('GET', KEYS[1]) or 0))
local hold = redis.call('PTTL', KEYS[2])
if hold > 0 then first = math.max(first, now + hold) end
local after = first + count * interval
redis.call('SET', KEYS[1], string.format('%.3f', after), 'PX',
           math.ceil(after - now) + tonumber(ARGV[2]))
"""
)

# Admit one send now (0) or answer how many ms to wait. A wait up to ARGV[4] ms (the
# caller's patience: it will ask again after it) is answered as is. A longer one is given
# the channel's next free slot at or after the time one frees, so a flood of jobs enqueued
# without slots (a sweep, a replay) is spread over the schedule instead of retrying at once.
_ADMIT = (
    _NOW
    + """
local rate = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local wait = redis.call('PTTL', KEYS[3])
if wait <= 0 then
    wait = 0
    redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
    if redis.call('ZCARD', KEYS[1]) < rate then
        redis.call('ZADD', KEYS[1], now, ARGV[3])
        redis.call('PEXPIRE', KEYS[1], window * 2)
        return 0
    end
    local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    wait = tonumber(oldest[2]) + window - now
end
if wait <= tonumber(ARGV[4]) then return math.max(1, math.ceil(wait)) end
local slot = math.max(now + wait, tonumber(redis.call('GET', KEYS[2]) or 0))
local after = slot + window / rate
redis.call('SET', KEYS[2], string.format('%.3f', after), 'PX', math.ceil(after - now) + window)
return math.max(1, math.ceil(slot - now))
"""
)

# Hold the channel for ARGV[1] ms, unless it is already held longer.
_HOLD = """
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
    redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
return 0
"""


def pace_key(namespace: str, company_id: uuid.UUID, part: str) -> str:
    """One of a channel's pacing keys (the braces keep them in one Redis Cluster slot)."""
    return f"{namespace}:pace:{{{company_id}}}:{part}"


class RedisPacer:
    """The send gate over one Redis (slots are reserved as jobs are enqueued: slotted.py)."""

    def __init__(self, client: redis.Redis, namespace: str) -> None:
        self._namespace = namespace
        self._admit = client.register_script(_ADMIT)
        self._hold = client.register_script(_HOLD)

    def _key(self, company_id: uuid.UUID, part: str) -> str:
        return pace_key(self._namespace, company_id, part)

    def admit(self, channel: ChannelPace, patience_ms: int = 0) -> int:
        """0: send now (counted in the window). A wait up to ``patience_ms``: ask again
        after it. A longer one: the ms until the slot now reserved for this send."""
        keys = [self._key(channel.company_id, part) for part in ("sent", "next", "hold")]
        member = uuid.uuid4().hex  # each admitted send is its own entry of the window
        try:
            wait = self._admit(
                keys=keys, args=[channel.rate_mps, WINDOW_MS, member, max(0, patience_ms)]
            )
        except redis.RedisError as exc:
            raise PacingUnavailable(str(exc)) from exc
        return int(wait)

    def hold(self, channel: ChannelPace, ms: int) -> None:
        """No slot and no send for the channel during the next ``ms`` (the provider's 130429)."""
        try:
            self._hold(keys=[self._key(channel.company_id, "hold")], args=[max(1, ms)])
        except redis.RedisError as exc:
            raise PacingUnavailable(str(exc)) from exc


def make_pacer(broker: RedisBroker) -> RedisPacer:
    """A pacer on the broker's Redis and under its namespace (test runs and deployments that
    share a Redis do not share windows)."""
    return RedisPacer(broker.client, broker.namespace)


class PromptDelayedJobs(dramatiq.Middleware):
    """Look for due delayed jobs every 100 ms instead of up to every second.

    A worker releases due delayed jobs (paced sends waiting for their slot) when its idle
    poll wakes, and Dramatiq's poll backs off to `worker_timeout` (1 s by default): a paced
    channel would send in lumps a second apart. The cost is about ten cheap Redis calls a
    second per idle queue consumer.
    """

    POLL_MS = 100

    def before_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        worker.worker_timeout = min(worker.worker_timeout, self.POLL_MS)

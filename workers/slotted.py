"""Delivery jobs enqueued into their channel's send slots: one Redis call for the batch.

The slots are reserved by `RESERVE_SLOTS_LUA` (workers/pacing.py) and, in the same script,
each job is written where Dramatiq's own enqueue would put it: the ready queue when its slot
is near, else the delayed queue with its `eta`. Reserving and then enqueueing took two round
trips per accepted message, a sixth of the intake's Redis calls. This module therefore knows
Dramatiq's Redis layout (`<ns>:<queue>` a list of ids, `<ns>:<queue>.msgs` their payloads;
dramatiq/brokers/redis/dispatch.lua), as workers/queues.py does; no Dramatiq middleware
hooks `enqueue`, so none is skipped.
"""

import uuid
from collections.abc import Sequence
from typing import Any

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import current_millis, dq_name

from pipeline.services.ports import ChannelPace, PacingUnavailable
from workers.job_context import job_options
from workers.pacing import RESERVE_SLOTS_LUA, WINDOW_MS, pace_key

# KEYS[3] the ready queue, KEYS[4] the delayed one; ARGV[4] how near a slot makes a job
# ready, ARGV[5] the caller's clock (ms: a delayed job's eta is on it, as Dramatiq's is),
# then per job its Redis id, its ready payload, and its delayed payload cut at the eta.
_ENQUEUE_IN_SLOTS = (
    RESERVE_SLOTS_LUA
    + """
local ready_within, caller_now = tonumber(ARGV[4]), tonumber(ARGV[5])
local delays = {}
for i = 0, count - 1 do
    local delay = math.floor(first + i * interval - now)
    local at = 6 + i * 4
    local id = ARGV[at]
    if delay > ready_within then
        local eta = string.format('%d', caller_now + delay)
        redis.call('HSET', KEYS[4] .. '.msgs', id, ARGV[at + 2] .. eta .. ARGV[at + 3])
        redis.call('RPUSH', KEYS[4], id)
    else
        redis.call('HSET', KEYS[3] .. '.msgs', id, ARGV[at + 1])
        redis.call('RPUSH', KEYS[3], id)
    end
    delays[i + 1] = math.max(0, delay)
end
return delays
"""
)

# Written as the delayed payload's eta, then cut out: no JSON string holds it unescaped.
_ETA_MARK = -918273645
_ETA_TEXT = f'"eta":{_ETA_MARK}'


class SlottedEnqueue:
    """Enqueues jobs of one actor, each delayed to a send slot of its channel reserved now."""

    def __init__(self, broker: RedisBroker, actor: dramatiq.Actor[[str], None]) -> None:
        self._broker = broker
        self._actor = actor
        self._script = broker.client.register_script(_ENQUEUE_IN_SLOTS)
        queues = (actor.queue_name, dq_name(actor.queue_name))
        self._queues = [f"{broker.namespace}:{queue}" for queue in queues]

    def enqueue(
        self, channel: ChannelPace, message_ids: Sequence[uuid.UUID], ready_within_ms: int
    ) -> list[int]:
        """Each message's job, in its slot: the slots' delays (ms), in order. Raises
        PacingUnavailable when Redis fails (then no job, or all of them, may be enqueued)."""
        if not message_ids:
            return []
        namespace = self._broker.namespace
        company = channel.company_id
        keys = [pace_key(namespace, company, "next"), pace_key(namespace, company, "hold")]
        keys += self._queues
        args: list[bytes | str | int] = [channel.rate_mps, WINDOW_MS, len(message_ids)]
        args += [ready_within_ms, current_millis()]
        options = job_options()
        for message_id in message_ids:
            args.extend(self._payloads(message_id, options))
        try:
            delays = self._script(keys=keys, args=args)
        except redis.RedisError as exc:
            raise PacingUnavailable(str(exc)) from exc
        return [int(d) for d in delays]

    def _payloads(self, message_id: uuid.UUID, options: dict[str, Any]) -> list[bytes | str]:
        """The job's Redis id, its payload as a ready job, and as a delayed one cut at the eta
        (what RedisBroker.enqueue writes, with and without a delay)."""
        message = self._actor.message_with_options(args=(str(message_id),), **options)
        redis_id = str(uuid.uuid4())
        message = message.copy(options={"redis_message_id": redis_id})
        delayed = message.copy(
            queue_name=dq_name(message.queue_name), options={"eta": _ETA_MARK}
        ).encode()
        before, mark, after = delayed.partition(_ETA_TEXT.encode())
        if not mark:
            raise RuntimeError("a delayed job's payload does not show its eta")
        return [redis_id, message.encode(), before + b'"eta":', after]

"""Dramatiq's Redis layout: the one module that reads or changes the broker's keys.

Layout (dramatiq 2.2 RedisBroker, brokers/redis/dispatch.lua, verified against the source):
``<ns>:<queue>`` is the list of ready jobs' ids, ``<ns>:<queue>.msgs`` a hash of every job
not yet acked (ready, or taken by a worker), ``<ns>:<queue>.DQ.msgs`` the delayed jobs.
``<ns>:<queue>.XQ`` is a sorted set of the dead jobs' ids scored by when they died (ms), and
``<ns>:<queue>.XQ.msgs`` a hash from those ids to the encoded job. Dramatiq drops dead
letters older than 7 days by itself.
"""

import re
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

from dramatiq.brokers.redis import RedisBroker

from workers.broker import DELIVERIES, QUEUES

# A delivery job's first argument is the message id (workers/actors.py); Dramatiq encodes
# a job as JSON with `args` right after the actor's name.
_FIRST_ARG = re.compile(rb'"args":\s*\["([0-9a-f-]{36})"')
# Jobs read per round trip when learning their message ids.
_READ_CHUNK = 1000


@dataclass(frozen=True, slots=True)
class QueueDepth:
    ready: int
    in_flight: int  # taken by a worker and not yet acked
    delayed: int
    dead: int


@dataclass(frozen=True, slots=True)
class DeadLetter:
    queue: str
    job_id: str  # the job's Redis id: its key in the dead-letter hash
    died_at_ms: float  # its score in the dead-letter set
    data: bytes = field(repr=False)  # the job as Dramatiq encoded it; restored as it was


class RedisQueues:
    """Queue depths and dead letters of one RedisBroker's namespace."""

    def __init__(self, broker: RedisBroker, queues: tuple[str, ...] = QUEUES) -> None:
        self._client = broker.client
        self._namespace = broker.namespace
        self.queues = queues
        # Delivery jobs seen by delivery_message_ids: Redis job id -> message id.
        self._message_of: dict[bytes, uuid.UUID] = {}

    def _key(self, queue: str, suffix: str = "") -> str:
        return f"{self._namespace}:{queue}{suffix}"

    def depths(self) -> dict[str, QueueDepth]:
        """Per queue: jobs ready, taken by a worker and not yet acked, delayed, dead."""
        pipe = self._client.pipeline(transaction=False)
        for queue in self.queues:
            pipe.llen(self._key(queue))
            pipe.hlen(self._key(queue, ".msgs"))
            pipe.hlen(self._key(queue, ".DQ.msgs"))
            pipe.zcard(self._key(queue, ".XQ"))
        replies = pipe.execute()
        depths = {}
        for i, queue in enumerate(self.queues):
            ready, unacked, delayed, dead = replies[i * 4 : i * 4 + 4]
            # `.msgs` holds the ready jobs too. The pipeline is not a MULTI, so a job
            # enqueued between the two reads could make the difference negative.
            depths[queue] = QueueDepth(ready, max(0, unacked - ready), delayed, dead)
        return depths

    def pending_jobs(self, queue: str) -> list[bytes]:
        """Every job of the queue not yet acknowledged (ready or taken), as stored."""
        jobs: list[bytes] = self._client.hvals(self._key(queue, ".msgs"))  # type: ignore[assignment]
        return list(jobs)

    def delivery_message_ids(self) -> set[uuid.UUID]:
        """Messages with a delivery job not yet acknowledged: ready, delayed, or taken by a
        worker (alive or dead: a dead worker's jobs go back to the queue by themselves).

        Both hashes' job ids are read in one MULTI: a job moving between them (a retry into
        the delay queue, a due job out of it) is written to the new one before it leaves the
        old, so an atomic read sees it at least once. A job's message id is read once, when
        the job is first seen, and remembered while the job lasts: reading and parsing every
        job took 16 ms a sweep at 4,000 queued jobs (a quiet machine), the ids alone 6 ms. A
        job acknowledged between the two reads is not counted, as if it had been before the
        first.
        """
        ready, delayed = self._key(DELIVERIES, ".msgs"), self._key(DELIVERIES, ".DQ.msgs")
        pipe = self._client.pipeline(transaction=True)
        pipe.hkeys(ready)
        pipe.hkeys(delayed)
        ready_jobs, delayed_jobs = pipe.execute()
        jobs = {*ready_jobs, *delayed_jobs}
        self._message_of = {job: m for job, m in self._message_of.items() if job in jobs}
        self._learn([job for job in jobs if job not in self._message_of], ready, delayed)
        return set(self._message_of.values())

    def _learn(self, jobs: list[bytes], ready: str, delayed: str) -> None:
        """Read the message ids of ``jobs`` (from either hash: one may have moved since)."""
        for start in range(0, len(jobs), _READ_CHUNK):
            chunk = jobs[start : start + _READ_CHUNK]
            pipe = self._client.pipeline(transaction=False)
            pipe.hmget(ready, chunk)
            pipe.hmget(delayed, chunk)
            in_ready, in_delayed = pipe.execute()
            for job, body in zip(chunk, map(_either, in_ready, in_delayed), strict=True):
                if body is not None and (match := _FIRST_ARG.search(body)):
                    self._message_of[job] = uuid.UUID(match.group(1).decode())

    def dead_letters(self, queue: str) -> list[DeadLetter]:
        """The queue's dead letters, in the order they died."""
        # redis-py 5 types its replies as "this or an Awaitable" (its asyncio client shares them).
        entries: list[tuple[bytes, float]]
        entries = self._client.zrange(self._key(queue, ".XQ"), 0, -1, withscores=True)  # type: ignore[assignment]
        if not entries:
            return []  # HMGET with no fields is an error
        ids = [entry[0] for entry in entries]
        datas: list[bytes | None]
        datas = self._client.hmget(self._key(queue, ".XQ.msgs"), ids)  # type: ignore[assignment]
        return [
            DeadLetter(queue, member.decode(), score, data)
            for (member, score), data in zip(entries, datas, strict=True)
            if data is not None  # expired between the two reads
        ]

    def take(self, letter: DeadLetter) -> bool:
        """Remove a dead letter; True only for the caller whose ZREM removed it.

        So two concurrent replays or purges take a job once; the hash is read in the same
        MULTI so a letter already gone (expired or purged) does not count either.
        """
        pipe = self._client.pipeline(transaction=True)
        pipe.zrem(self._key(letter.queue, ".XQ"), letter.job_id)
        pipe.hget(self._key(letter.queue, ".XQ.msgs"), letter.job_id)
        pipe.hdel(self._key(letter.queue, ".XQ.msgs"), letter.job_id)
        removed, data, _ = pipe.execute()
        return bool(removed) and data is not None

    def restore(self, letter: DeadLetter) -> None:
        """Put a taken letter back as it was, with the time it died."""
        pipe = self._client.pipeline(transaction=True)
        pipe.hset(self._key(letter.queue, ".XQ.msgs"), letter.job_id, letter.data)  # type: ignore[arg-type]
        pipe.zadd(self._key(letter.queue, ".XQ"), {letter.job_id: letter.died_at_ms})
        pipe.execute()

    def purge(self, letters: Iterable[DeadLetter]) -> int:
        """Delete dead letters for good; returns how many were still there."""
        return sum(self.take(letter) for letter in letters)


def queue_depths(broker: RedisBroker) -> dict[str, dict[str, int]]:
    """Every queue's depths as plain fields (what `wapipe stats --json` shows)."""
    return {queue: asdict(depth) for queue, depth in RedisQueues(broker).depths().items()}


def _either(first: bytes | None, second: bytes | None) -> bytes | None:
    return first if first is not None else second

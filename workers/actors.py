"""Dramatiq actors: thin wrappers that take ids, call one service and map the result."""

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from pipeline.services.delivery import Outcome
from pipeline.services.ports import ChannelPace
from workers.broker import DELIVERIES
from workers.job_context import job_options
from workers.slotted import SlottedEnqueue

if TYPE_CHECKING:
    from pipeline.bootstrap import Container

# Retries are owned by the delivery service (bounded by attempts and age in PostgreSQL):
# a planned retry (backoff, throttling, a paced send waiting for its slot) is a new delayed
# job, not a Dramatiq retry, so Dramatiq's own budget only covers unexpected errors such
# as a database outage (a channel paced behind a long backlog may wait many times).
_RETRY_OPTIONS: dict[str, Any] = {"max_retries": 30, "min_backoff": 1_000, "max_backoff": 60_000}


@dataclass(frozen=True, slots=True)
class Actors:
    deliver_message: dramatiq.Actor[[str], None]


def declare_actors(broker: dramatiq.Broker, container: "Callable[[], Container]") -> Actors:
    """Declare the actors on ``broker``; ``container`` gives the process's adapters.

    Provider webhooks are not jobs: the webhook applier (webhooks/applier.py) drains them
    from PostgreSQL in batches, in a thread beside each worker.
    """

    def deliver_message(message_id: str) -> None:
        target = uuid.UUID(message_id)
        result = container().deliverer.deliver(target)
        if result.outcome is Outcome.RETRY:
            # Enqueued before this job is acknowledged: a crash in between leaves a twin,
            # which the claim makes harmless.
            container().queue.enqueue_delivery(target, result.retry_in_ms or 0)

    return Actors(
        deliver_message=dramatiq.actor(
            broker=broker,
            actor_name="deliver_message",
            queue_name=DELIVERIES,
            # Interrupt a stuck send well before its lease (60 s by default) runs out.
            time_limit=45_000,
            **_RETRY_OPTIONS,
        )(deliver_message),
    )


class DramatiqQueue:
    """The TaskQueue port over Dramatiq: a job carries only the id (and, in its options, the
    request id and trace context of the code that enqueued it). A delayed job waits in
    the queue's delayed set (``<q>.DQ``) until due; slots come from the channel's pacer."""

    def __init__(self, actors: Actors) -> None:
        self._actors = actors
        broker = actors.deliver_message.broker
        assert isinstance(broker, RedisBroker)  # the one broker wapipe runs on
        self._slotted = SlottedEnqueue(broker, actors.deliver_message)

    def enqueue_delivery(self, message_id: uuid.UUID, delay_ms: int = 0) -> None:
        # The request id and trace context ride along, for the worker's logs and spans.
        self._actors.deliver_message.send_with_options(
            args=(str(message_id),), delay=delay_ms if delay_ms > 0 else None, **job_options()
        )

    def enqueue_in_slots(
        self, channel: ChannelPace, message_ids: Sequence[uuid.UUID], ready_within_ms: int
    ) -> list[int]:
        return self._slotted.enqueue(channel, message_ids, ready_within_ms)

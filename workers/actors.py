"""Dramatiq actors: thin wrappers that take ids, call one service and map the result."""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import dramatiq

from pipeline.services.delivery import Outcome
from workers.broker import DELIVERIES

if TYPE_CHECKING:
    from pipeline.bootstrap import Container

# Retries are owned by the delivery service (bounded by attempts and age in PostgreSQL);
# Dramatiq's own budget only covers unexpected errors such as a database outage.
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
        result = container().deliverer.deliver(uuid.UUID(message_id))
        if result.outcome is Outcome.RETRY:
            raise dramatiq.Retry(delay=result.retry_in_ms)

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
    """The TaskQueue port over Dramatiq: a job carries only the id."""

    def __init__(self, actors: Actors) -> None:
        self._actors = actors

    def enqueue_delivery(self, message_id: uuid.UUID) -> None:
        self._actors.deliver_message.send(str(message_id))

"""The ports services depend on; adapters live in workers/ and pipeline/provider/."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ChannelPace:
    """A company's channel as pacing sees it: whose, and how many sends a second."""

    company_id: uuid.UUID
    rate_mps: int


class PacingUnavailable(Exception):
    """The pacing store (Redis) did not answer: nothing is known about the channel's window."""


class TaskQueue(Protocol):
    def enqueue_delivery(self, message_id: uuid.UUID, delay_ms: int = 0) -> None:
        """Ask a worker to deliver a committed message, not before ``delay_ms``. Call only
        after the commit."""
        ...

    def enqueue_in_slots(
        self, channel: ChannelPace, message_ids: Sequence[uuid.UUID], ready_within_ms: int
    ) -> list[int]:
        """Reserve the channel's next send slots and enqueue the messages' jobs in one step
        (one Redis call): each committed message's job is delayed to its slot, or ready at
        once when the slot is at most ``ready_within_ms`` away; the slots' delays (ms).
        Raises PacingUnavailable (then none of the jobs, or all of them, were enqueued)."""
        ...


class SendGate(Protocol):
    """The guarantee of a channel's rate, across every worker on every host."""

    def admit(self, channel: ChannelPace, patience_ms: int = 0) -> int:
        """0: send now (the send is counted). A wait up to ``patience_ms``: ask again after
        it. A longer one: the ms until the slot now reserved for this send. Raises
        PacingUnavailable."""
        ...

    def hold(self, channel: ChannelPace, ms: int) -> None:
        """Admit no send on the channel for ``ms`` (the provider said it is over its
        throughput). Raises PacingUnavailable."""
        ...

"""The ports services depend on; adapters live in workers/ and pipeline/provider/."""

import uuid
from typing import Protocol


class TaskQueue(Protocol):
    def enqueue_delivery(self, message_id: uuid.UUID) -> None:
        """Ask a worker to deliver a committed message. Call only after the commit."""
        ...

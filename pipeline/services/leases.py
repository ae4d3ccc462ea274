"""The messages a worker process is sending right now, so its heartbeat can renew their leases.

A lease must outlast a send, and a send can be slow (a provider answering in 40 s) without
being dead: instead of a lease long enough for the slowest send, which would also strand a
dead worker's messages that long, a lease is short and renewed while the send runs.
"""

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager


class LeaseBook:
    """Thread-safe: delivery threads add and remove, the heartbeat thread reads."""

    def __init__(self) -> None:
        self._held: set[uuid.UUID] = set()
        self._lock = threading.Lock()

    @contextmanager
    def holding(self, message_id: uuid.UUID) -> Iterator[None]:
        with self._lock:
            self._held.add(message_id)
        try:
            yield
        finally:
            with self._lock:
                self._held.discard(message_id)

    def held(self) -> list[uuid.UUID]:
        with self._lock:
            return list(self._held)

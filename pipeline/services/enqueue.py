"""Enqueue after commit: the one way a committed message is handed to the broker."""

import logging
import uuid
from collections.abc import Iterable

from pipeline.services.ports import TaskQueue

log = logging.getLogger("wapipe.enqueue")


def enqueue_after_commit(queue: TaskQueue, message_ids: Iterable[uuid.UUID]) -> int:
    """Ask workers to deliver messages already committed as `sending`; call only after the
    commit. Returns how many could not be handed over: the broker is only a hint, and the
    sweeper finds those in PostgreSQL, so the caller carries on (a 202 stays a 202)."""
    failed = 0
    for message_id in message_ids:
        try:
            queue.enqueue_delivery(message_id)
        except Exception:
            log.exception("enqueue failed for message %s; the sweeper will pick it up", message_id)
            failed += 1
    return failed

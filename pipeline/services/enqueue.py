"""Enqueue after commit: the one way a committed message is handed to the broker."""

import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable

from pipeline.services.ports import ChannelPace, PacingUnavailable, TaskQueue

log = logging.getLogger("wapipe.enqueue")

# A slot this close is not worth a delayed job (a round through the delayed queue costs
# Redis about twice a ready job): the job is ready at once, and the send-time gate waits
# out the few ms it may be early, holding the claim (delivery's patience is the same).
READY_WITHIN_MS = 100


def enqueue_after_commit(
    queue: TaskQueue, message_ids: Iterable[uuid.UUID], channel: ChannelPace | None = None
) -> int:
    """Ask workers to deliver messages already committed as `sending`; call only after the
    commit. Returns how many could not be handed over: the broker is only a hint, and the
    sweeper finds those in PostgreSQL, so the caller carries on (a 202 stays a 202).

    With the messages' ``channel``, each job is delayed to a send slot of that channel
    reserved now (one Redis call for the batch), so a company's backlog waits in the delayed
    queue and never stands in front of another company's messages. Without it the job is
    ready at once; the send-time gate still keeps the channel's rate.
    """
    ids = list(message_ids)
    delays = _reserve(queue, channel, len(ids))
    failed = 0
    for message_id, delay_ms in zip(ids, delays, strict=True):
        try:
            queue.enqueue_delivery(message_id, delay_ms if delay_ms > READY_WITHIN_MS else 0)
        except Exception:
            log.exception("enqueue failed for message %s; the sweeper will pick it up", message_id)
            failed += 1
    return failed


def enqueue_by_channel(queue: TaskQueue, messages: Iterable[tuple[uuid.UUID, ChannelPace]]) -> int:
    """enqueue_after_commit for messages of several channels (a sweep, a replay): one slot
    reservation per channel. Returns how many could not be handed over."""
    by_channel: dict[ChannelPace, list[uuid.UUID]] = defaultdict(list)
    for message_id, channel in messages:
        by_channel[channel].append(message_id)
    return sum(enqueue_after_commit(queue, ids, channel) for channel, ids in by_channel.items())


def _reserve(queue: TaskQueue, channel: ChannelPace | None, count: int) -> list[int]:
    if channel is None or count == 0:
        return [0] * count
    try:
        return queue.reserve_slots(channel, count)
    except PacingUnavailable as exc:
        # Ready at once instead: the gate paces them, or holds them back while Redis is out.
        log.warning("no send slots for company %s (%s)", channel.company_id, exc)
        return [0] * count

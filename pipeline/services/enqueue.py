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
# Jobs per Redis call when a sweep or a replay enqueues a channel's backlog: one script
# call blocks Redis while it runs, so a backlog of thousands goes in a few calls, not one.
SLOTTED_BATCH = 500


def enqueue_after_commit(
    queue: TaskQueue, message_ids: Iterable[uuid.UUID], channel: ChannelPace | None = None
) -> int:
    """Ask workers to deliver messages already committed as `sending`; call only after the
    commit. Returns how many could not be handed over: the broker is only a hint, and the
    sweeper finds those in PostgreSQL, so the caller carries on (a 202 stays a 202).

    With the messages' ``channel``, each job is delayed to a send slot of that channel
    reserved now (one Redis call reserves the slots and enqueues the jobs), so a company's
    backlog waits in the delayed queue and never stands in front of another company's
    messages. Without it the job is ready at once; the send-time gate still keeps the
    channel's rate.
    """
    ids = list(message_ids)
    if channel is None:
        return _enqueue_ready(queue, ids)
    return sum(
        _enqueue_in_slots(queue, ids[start : start + SLOTTED_BATCH], channel)
        for start in range(0, len(ids), SLOTTED_BATCH)
    )


def _enqueue_in_slots(queue: TaskQueue, ids: list[uuid.UUID], channel: ChannelPace) -> int:
    try:
        queue.enqueue_in_slots(channel, ids, READY_WITHIN_MS)
    except PacingUnavailable as exc:
        # Ready at once instead (a twin, if the jobs did go in, is harmless: the claim lets
        # one through); the gate paces them, or holds them back while Redis is out.
        log.warning("no send slots for company %s (%s)", channel.company_id, exc)
    except Exception:
        log.exception("no send slots for company %s; its jobs go in ready", channel.company_id)
    else:
        return 0
    return _enqueue_ready(queue, ids)


def _enqueue_ready(queue: TaskQueue, ids: list[uuid.UUID]) -> int:
    failed = 0
    for message_id in ids:
        try:
            queue.enqueue_delivery(message_id)
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

"""The message state machine: a table of allowed transitions plus one pure function."""

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


class Source(StrEnum):
    """Who reported a status change; recorded in the message's history."""

    INTAKE = "intake"
    WORKER = "worker"
    WEBHOOK = "webhook"
    OPERATOR = "operator"


S = Status
# Who may move a message from one status to another. Everything absent is refused.
# A webhook may overtake the worker's own record of the send (sending -> delivered/read);
# a device can report success after the provider reported a failure (failed -> delivered/read);
# only an explicit retry by the API or an operator puts a failed message back to sending;
# the API or an operator may cancel a message still owed a send (it fails with `cancelled`).
_ANY_REPORTER = frozenset({Source.WORKER, Source.WEBHOOK})
_WEBHOOK = frozenset({Source.WEBHOOK})
_RETRY = frozenset({Source.INTAKE, Source.OPERATOR})
_FAIL_SENDING = frozenset({Source.WORKER, Source.WEBHOOK, Source.INTAKE, Source.OPERATOR})
TRANSITIONS: dict[tuple[Status, Status], frozenset[Source]] = {
    (S.SENDING, S.SENT): _ANY_REPORTER,
    (S.SENDING, S.DELIVERED): _WEBHOOK,
    (S.SENDING, S.READ): _WEBHOOK,
    (S.SENDING, S.FAILED): _FAIL_SENDING,
    (S.SENT, S.DELIVERED): _WEBHOOK,
    (S.SENT, S.READ): _WEBHOOK,
    (S.SENT, S.FAILED): _WEBHOOK,
    (S.DELIVERED, S.READ): _WEBHOOK,
    (S.FAILED, S.DELIVERED): _WEBHOOK,
    (S.FAILED, S.READ): _WEBHOOK,
    (S.FAILED, S.SENDING): _RETRY,
}

# Provider-reported progress. A webhook never moves a message to a lower rank, so a late
# `sent` after `read` is recorded and ignored, whatever order Meta delivers them in.
RANK: dict[Status, int] = {S.SENDING: 0, S.SENT: 1, S.DELIVERED: 2, S.READ: 3}

# The statuses a provider webhook can report.
PROVIDER_STATUSES = frozenset({S.SENT, S.DELIVERED, S.READ, S.FAILED})


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of reporting ``target`` for a message currently in ``current``."""

    status: Status
    applied: bool


def decide(current: Status, target: Status, source: Source) -> Decision:
    """Return the status a message ends in when ``source`` reports ``target``.

    Refused reports (repeats, late lower-ranked statuses, transitions nobody may make) leave
    the status unchanged with ``applied=False``; the caller still records them in the history.
    """
    allowed = TRANSITIONS.get((current, target), frozenset())
    if source not in allowed:
        return Decision(current, applied=False)
    if current in RANK and target in RANK and RANK[target] <= RANK[current]:
        return Decision(current, applied=False)
    return Decision(target, applied=True)

import itertools

import pytest

from pipeline.domain.statuses import RANK, TRANSITIONS, Source, Status, decide

S = Status
ALLOWED = {
    (S.SENDING, S.SENT, Source.WORKER),
    (S.SENDING, S.SENT, Source.WEBHOOK),
    (S.SENDING, S.DELIVERED, Source.WEBHOOK),
    (S.SENDING, S.READ, Source.WEBHOOK),
    (S.SENDING, S.FAILED, Source.WORKER),
    (S.SENDING, S.FAILED, Source.WEBHOOK),
    (S.SENDING, S.FAILED, Source.INTAKE),
    (S.SENDING, S.FAILED, Source.OPERATOR),
    (S.SENT, S.DELIVERED, Source.WEBHOOK),
    (S.SENT, S.READ, Source.WEBHOOK),
    (S.SENT, S.FAILED, Source.WEBHOOK),
    (S.DELIVERED, S.READ, Source.WEBHOOK),
    (S.FAILED, S.DELIVERED, Source.WEBHOOK),
    (S.FAILED, S.READ, Source.WEBHOOK),
    (S.FAILED, S.SENDING, Source.INTAKE),
    (S.FAILED, S.SENDING, Source.OPERATOR),
}


@pytest.mark.parametrize(
    ("current", "target", "source"), list(itertools.product(Status, Status, Source))
)
def test_every_pair_and_source_follows_the_table(
    current: Status, target: Status, source: Source
) -> None:
    decision = decide(current, target, source)
    if (current, target, source) in ALLOWED:
        assert decision.applied
        assert decision.status is target
    else:
        assert not decision.applied
        assert decision.status is current


def test_the_table_has_exactly_the_documented_transitions() -> None:
    flattened = {(a, b, src) for (a, b), sources in TRANSITIONS.items() for src in sources}
    assert flattened == ALLOWED


def test_a_webhook_never_lowers_the_rank() -> None:
    for current, target in itertools.product(RANK, RANK):
        decision = decide(current, target, Source.WEBHOOK)
        assert RANK[decision.status] >= RANK[current]


def test_only_a_retry_leaves_failed_for_sending() -> None:
    assert not decide(S.FAILED, S.SENDING, Source.WEBHOOK).applied
    assert not decide(S.FAILED, S.SENDING, Source.WORKER).applied
    assert decide(S.FAILED, S.SENDING, Source.OPERATOR).applied


def _final(events: tuple[Status, ...]) -> Status:
    status = S.SENDING
    for event in events:
        status = decide(status, event, Source.WEBHOOK).status
    return status


@pytest.mark.parametrize(
    "events",
    [
        (S.SENT, S.DELIVERED, S.READ),
        (S.SENT, S.FAILED),
        (S.DELIVERED, S.FAILED),
        (S.SENT, S.READ, S.FAILED),
        (S.SENT, S.DELIVERED, S.READ, S.FAILED),
        (S.SENT, S.SENT, S.DELIVERED, S.DELIVERED),
    ],
)
def test_webhook_order_does_not_change_the_final_status(events: tuple[Status, ...]) -> None:
    finals = {_final(order) for order in itertools.permutations(events)}
    assert len(finals) == 1

"""Statuses never regress: any permutation, duplication and batching gives one final state."""

import uuid
from datetime import UTC, datetime
from typing import Any

from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from db.models import Message
from pipeline.bootstrap import Container
from tests.conftest import APP_SECRET, Tenant
from tests.support import new_phone, signed_headers, status, status_body
from webhooks.service import process_webhook

T0 = 1_763_800_000
EVENTS: dict[str, tuple[int, dict[str, Any]]] = {
    "sent": (T0, {}),
    "failed": (
        T0 + 1,
        {"errors": [{"code": 131026, "title": "Message undeliverable"}]},
    ),
    "delivered": (T0 + 2, {}),
    "read": (T0 + 30, {}),
}

# A non-empty set of statuses, each reported one to three times, in any order, cut into
# webhook POSTs of any sizes.
reports = (
    st.lists(
        st.tuples(st.sampled_from(sorted(EVENTS)), st.integers(1, 3)),
        min_size=1,
        max_size=4,
        unique_by=lambda pair: pair[0],
    )
    .map(lambda pairs: [name for name, times in pairs for _ in range(times)])
    .flatmap(st.permutations)
    .flatmap(lambda events: st.tuples(st.just(events), st.lists(st.integers(1, 4), min_size=12)))
)


def _expected_status(names: set[str]) -> str:
    for name in ("read", "delivered", "failed", "sent"):
        if name in names:
            return name
    raise AssertionError("no events")


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=reports)
def test_any_order_duplicates_and_batching_reach_the_same_final_state(
    client: FlaskClient, tenant: Tenant, container: Container, case: tuple[list[str], list[int]]
) -> None:
    events, cuts = case
    sent = client.post(
        "/v1/messages", json={"to": new_phone(), "text": "p"}, headers=tenant.auth
    ).get_json()
    message_id = sent["id"]
    wamid = f"wamid.{uuid.uuid4().hex}"
    items = [status(wamid, e, EVENTS[e][0], biz=message_id, **EVENTS[e][1]) for e in events]
    position = 0
    for size in cuts:
        if position >= len(items):
            break
        body = status_body(tenant.phone_number_id, items[position : position + size])
        position += size
        response = client.post(
            "/webhooks/whatsapp", data=body, headers=signed_headers(APP_SECRET, body)
        )
        assert process_webhook(container.db, response.get_json()["received"])
    assert position >= len(items)

    with container.db.transaction() as session:
        message = session.scalars(select(Message).where(Message.id == uuid.UUID(message_id))).one()
    names = set(events)
    assert message.status == _expected_status(names)
    assert message.provider_message_id == wamid
    for name, column in (
        ("sent", message.sent_at),
        ("delivered", message.delivered_at),
        ("read", message.read_at),
        ("failed", message.failed_at),
    ):
        expected = datetime.fromtimestamp(EVENTS[name][0], UTC) if name in names else None
        assert column == expected, name
    assert (message.error_code == "131026") == ("failed" in names)

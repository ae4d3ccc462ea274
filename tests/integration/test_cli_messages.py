"""`wapipe messages list|show|retry` and `wapipe audit`, on real PostgreSQL and Redis."""

import threading
import time
import uuid
from typing import Any

import pytest
from dramatiq import Worker
from flask.testing import FlaskClient
from sqlalchemy import select

from db.models import MessageStatusEvent
from fakeprovider import FakeProvider
from pipeline.bootstrap import Container
from pipeline.services.audit import Operator
from pipeline.services.operations import plan_retry, retry_messages
from tests.cli_support import Wapipe
from tests.conftest import Tenant
from tests.support import new_phone, status_of, wait_for

PERMANENT = 131026  # undeliverable: fails at once, without backoff


@pytest.fixture(autouse=True)
def _clean_rules(fake_provider: FakeProvider) -> None:
    fake_provider.state.clear_rules()


def _send(client: FlaskClient, tenant: Tenant, to: str | None = None) -> str:
    body = {"to": to or new_phone(), "text": "hello"}
    response = client.post("/v1/messages", json=body, headers=tenant.auth)
    assert response.status_code == 202, response.get_json()
    message_id: str = response.get_json()["id"]
    return message_id


def _wait(container: Container, ids: list[str], status: str, timeout: float = 20) -> None:
    wait_for(
        lambda: all(status_of(container, i) == status for i in ids),
        timeout=timeout,
        what=f"{len(ids)} message(s) to reach {status}",
    )


def _failed(
    client: FlaskClient, tenant: Tenant, fake: FakeProvider, container: Container, n: int = 1
) -> list[str]:
    """``n`` messages that failed with a permanent error once; a retry then succeeds."""
    ids = []
    for _ in range(n):
        phone = new_phone()
        fake.state.add_rule(phone.lstrip("+"), PERMANENT, 1)
        ids.append(_send(client, tenant, phone))
    _wait(container, ids, "failed")
    return ids


def _sends(fake: FakeProvider, message_id: str) -> int:
    count: int = fake.state.sends_for(message_id)["count"]
    return count


def test_list_shows_a_companys_failed_messages_with_their_error_code(
    wapipe: Wapipe,
    client: FlaskClient,
    tenant: Tenant,
    worker: Worker,
    fake_provider: FakeProvider,
    container: Container,
) -> None:
    [failed] = _failed(client, tenant, fake_provider, container)
    fine = _send(client, tenant)
    _wait(container, [fine], "read")
    args = ("messages", "list", "--status", "failed", "--company", str(tenant.company_id))
    output = wapipe(*args).output
    assert failed in output
    assert str(PERMANENT) in output
    assert fine not in output
    [row] = wapipe.json(*args)
    assert row["id"] == failed
    assert row["error_code"] == str(PERMANENT)
    assert row["company_id"] == str(tenant.company_id)


def test_list_narrows_by_error_code_recipient_and_time(
    wapipe: Wapipe, client: FlaskClient, tenant: Tenant, container: Container
) -> None:
    phone = new_phone()
    mine, other = _send(client, tenant, phone), _send(client, tenant)
    company = ("--company", str(tenant.company_id))
    by_phone = wapipe.json("messages", "list", *company, "--to", phone)
    assert [m["id"] for m in by_phone] == [mine]
    recent = {m["id"] for m in wapipe.json("messages", "list", *company, "--since", "5m")}
    assert {mine, other} <= recent
    assert wapipe.json("messages", "list", *company, "--until", "1h") == []
    assert wapipe.json("messages", "list", *company, "--error-code", "131026") == []
    assert len(wapipe.json("messages", "list", *company, "--limit", "1")) == 1


def test_list_refuses_a_phone_without_a_country_code_in_one_line(wapipe: Wapipe) -> None:
    result = wapipe("messages", "list", "--to", "650 555 0142", code=1)
    assert result.output.strip().splitlines() == [
        "Error: --to must include the country code (start with + or 00)"
    ]


def test_show_tells_the_whole_story_of_a_failed_message(
    wapipe: Wapipe,
    client: FlaskClient,
    tenant: Tenant,
    worker: Worker,
    fake_provider: FakeProvider,
    container: Container,
) -> None:
    [failed] = _failed(client, tenant, fake_provider, container)
    story = wapipe.json("messages", "show", failed)
    assert story["status"] == "failed"
    assert story["error"]["code"] == str(PERMANENT)
    assert story["error"]["title"]
    assert story["error"]["details"]
    assert story["fbtrace_id"]
    assert [(h["status"], h["source"]) for h in story["history"]] == [
        ("sending", "intake"),
        ("failed", "worker"),
    ]
    [attempt] = story["attempts_log"]
    assert attempt["outcome"] == "failed"
    assert attempt["error_code"] == str(PERMANENT)
    assert attempt["http_status"] == 400
    assert attempt["fbtrace_id"] == story["fbtrace_id"]
    assert "permanent" in story["advice"]
    text = wapipe("messages", "show", failed).output
    for fragment in (failed, "status history", "delivery attempts", story["fbtrace_id"]):
        assert fragment in text


def test_show_explains_why_a_message_is_still_sending(
    wapipe: Wapipe, client: FlaskClient, tenant: Tenant, container: Container
) -> None:
    wapipe("channels", "pause", "--company", str(tenant.company_id), "--reason", "test")
    story = wapipe.json("messages", "show", _send(client, tenant))
    assert story["waiting"]["reason"] == "channel_paused"
    assert "channels resume" in story["advice"]


def test_show_of_an_unknown_message_fails_in_one_line(wapipe: Wapipe) -> None:
    missing = uuid.uuid4()
    result = wapipe("messages", "show", str(missing), code=1)
    assert result.output.strip() == f"Error: no message {missing}"


def test_retry_by_id_brings_a_failed_message_to_read_and_is_audited(
    wapipe: Wapipe,
    client: FlaskClient,
    tenant: Tenant,
    worker: Worker,
    fake_provider: FakeProvider,
    container: Container,
) -> None:
    [failed] = _failed(client, tenant, fake_provider, container)
    output = wapipe("messages", "retry", failed, "--yes", "--reason", "recipient fixed").output
    assert "retried 1, skipped 0" in output
    _wait(container, [failed], "read")
    assert _sends(fake_provider, failed) == 1
    [action] = wapipe.json("audit", "--message", failed)
    assert (action["actor"], action["action"]) == ("tester", "messages.retry")
    assert action["reason"] == "recipient fixed"
    assert action["details"]["retried"] == 1
    detail = wapipe.json("audit", "--id", str(action["id"]))
    assert detail["messages"] == [{"id": failed, "outcome": "retried", "status": "failed"}]
    story = wapipe.json("messages", "show", failed)
    assert [(h["status"], h["source"]) for h in story["history"]][:3] == [
        ("sending", "intake"),
        ("failed", "worker"),
        ("sending", "operator"),
    ]
    assert story["operator_actions"][0]["id"] == action["id"]


def test_bulk_retry_shows_its_plan_asks_first_and_changes_nothing_when_refused(
    wapipe: Wapipe,
    client: FlaskClient,
    tenant: Tenant,
    worker: Worker,
    fake_provider: FakeProvider,
    container: Container,
) -> None:
    ids = _failed(client, tenant, fake_provider, container, n=2)
    bulk = ("messages", "retry", "--status", "failed", "--company", str(tenant.company_id))
    dry = wapipe(*bulk, "--dry-run").output
    assert "2 failed message(s) to retry" in dry
    assert f"error {PERMANENT} (permanent)" in dry
    assert set(wapipe.json(*bulk, "--dry-run")["retry"]) == set(ids)
    refused = wapipe(*bulk, input="n\n", code=1)
    assert "Retry 2 message(s)?" in refused.output
    assert all(status_of(container, i) == "failed" for i in ids)
    assert wapipe.json("audit", "--company", str(tenant.company_id)) == []
    accepted = wapipe(*bulk, input="y\n").output
    assert "retried 2, skipped 0" in accepted
    _wait(container, ids, "read")


def test_a_second_retry_skips_what_is_no_longer_failed_and_says_so(
    wapipe: Wapipe,
    client: FlaskClient,
    tenant: Tenant,
    worker: Worker,
    fake_provider: FakeProvider,
    container: Container,
) -> None:
    [failed] = _failed(client, tenant, fake_provider, container)
    wapipe("messages", "retry", failed, "--yes")
    _wait(container, [failed], "read")
    again = wapipe("messages", "retry", failed, "--yes").output
    assert f"skip {failed}: it is read, not failed" in again
    assert "nothing to retry" in again
    bulk = ("messages", "retry", "--status", "failed", "--company", str(tenant.company_id))
    assert "nothing to retry" in wapipe(*bulk, "--yes").output
    assert _sends(fake_provider, failed) == 1


def test_concurrent_retries_by_operators_and_the_api_put_a_message_back_once(
    client: FlaskClient,
    tenant: Tenant,
    worker: Worker,
    fake_provider: FakeProvider,
    container: Container,
) -> None:
    [failed] = _failed(client, tenant, fake_provider, container)
    message_id = uuid.UUID(failed)
    plan = plan_retry(container.db, [message_id])
    barrier = threading.Barrier(5)
    retried: list[Any] = []

    def operator(i: int) -> None:
        barrier.wait()
        result = retry_messages(container.db, container.queue, Operator(f"op{i}"), plan)
        retried.extend(result.retried)

    def api() -> None:
        barrier.wait()
        response = client.post(f"/v1/messages/{failed}/retry", headers=tenant.auth)
        if response.status_code == 202:
            retried.append(message_id)

    threads = [threading.Thread(target=operator, args=(i,)) for i in range(4)]
    threads.append(threading.Thread(target=api))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert retried == [message_id]
    _wait(container, [failed], "read")
    assert _sends(fake_provider, failed) == 1
    with container.db.transaction() as session:
        back = session.scalars(
            select(MessageStatusEvent.source).where(
                MessageStatusEvent.message_id == message_id,
                MessageStatusEvent.status == "sending",
                MessageStatusEvent.applied,
            )
        ).all()
    assert len(back) == 2  # the intake, and exactly one retry


def test_rate_spaces_the_retries_out(
    wapipe: Wapipe,
    client: FlaskClient,
    tenant: Tenant,
    worker: Worker,
    fake_provider: FakeProvider,
    container: Container,
) -> None:
    ids = _failed(client, tenant, fake_provider, container, n=3)
    started = time.monotonic()
    wapipe("messages", "retry", *ids, "--yes", "--rate", "10/s")
    assert time.monotonic() - started >= 0.2  # three retries, 0.1 s apart
    _wait(container, ids, "read")


@pytest.mark.parametrize(
    "args",
    [
        ("messages", "retry"),
        ("messages", "retry", "--status", "sent"),
        ("messages", "retry", str(uuid.uuid4()), "--status", "failed"),
        ("messages", "retry", "--status", "failed", "--rate", "0"),
        ("messages", "retry", "not-an-id"),
    ],
)
def test_retry_refuses_what_it_cannot_do_safely(wapipe: Wapipe, args: tuple[str, ...]) -> None:
    assert "Error" in wapipe(*args, code=2).output


def test_retry_of_an_unknown_message_changes_nothing(
    wapipe: Wapipe,
    client: FlaskClient,
    tenant: Tenant,
    worker: Worker,
    fake_provider: FakeProvider,
    container: Container,
) -> None:
    [failed] = _failed(client, tenant, fake_provider, container)
    missing = uuid.uuid4()
    result = wapipe("messages", "retry", failed, str(missing), "--yes", code=1)
    assert result.output.strip() == f"Error: no message {missing} (nothing was retried)"
    assert status_of(container, failed) == "failed"


def test_audit_filters_by_actor_and_action(
    wapipe: Wapipe, client: FlaskClient, tenant: Tenant
) -> None:
    company = ("--company", str(tenant.company_id))
    wapipe("channels", "pause", *company, "--actor", "ana", "--reason", "quality alert")
    wapipe("channels", "resume", *company, "--actor", "bo")
    mine = wapipe.json("audit", "--actor", "ana")
    assert [(a["action"], a["reason"]) for a in mine][:1] == [("channels.pause", "quality alert")]
    resumes = wapipe.json("audit", *company, "--action", "channels.resume")
    assert [a["actor"] for a in resumes] == ["bo"]
    table = wapipe("audit", *company).output
    assert "channels.pause" in table
    assert "quality alert" in table
    assert "Test Co" in table

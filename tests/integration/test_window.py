"""The 24-hour window (issue 9): conversations show when it closes, the 202 says whether it
is open, and a company that enforces it gets 409 WINDOW_CLOSED for free-form messages."""

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from dramatiq import Worker
from flask.testing import FlaskClient
from sqlalchemy import func, select

from db.models import Company, Contact, Conversation, Template
from fakeprovider import FakeProvider
from pipeline.bootstrap import Container
from tests.cli_support import Wapipe
from tests.conftest import Tenant
from tests.content_support import customer_writes
from tests.support import new_phone, wait_for

TEMPLATE = {"name": "hello", "language": {"code": "en"}}


def _conversation(client: FlaskClient, tenant: Tenant, phone: str) -> dict[str, Any] | None:
    items = client.get(f"/v1/conversations?q={phone[1:]}", headers=tenant.auth).get_json()["items"]
    return items[0] if items else None


@pytest.fixture
def enforcing(wapipe: Wapipe, tenant: Tenant, container: Container) -> Tenant:
    wapipe("company", "set", "--company", str(tenant.company_id), "--window-policy", "enforce")
    with container.db.transaction() as session:
        session.add(
            Template(
                company_id=tenant.company_id, name="hello", language="en", status="APPROVED",
                components=[{"type": "BODY", "text": "Hello"}], synced_at=datetime.now(),
            )
        )  # fmt: skip
    return tenant


@pytest.fixture
def fake_enforces_window(fake_provider: FakeProvider) -> Iterator[None]:
    fake_provider.state.patch_config({"enforce_window": True})
    try:
        yield
    finally:
        fake_provider.state.patch_config({"enforce_window": False})


def test_enforced_a_text_to_a_closed_window_is_409_and_stores_nothing(
    client: FlaskClient, enforcing: Tenant, container: Container
) -> None:
    phone = new_phone()
    response = client.post("/v1/messages", json={"to": phone, "text": "hi"}, headers=enforcing.auth)
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "WINDOW_CLOSED"
    assert "template" in error["message"]
    with container.db.transaction() as session:
        contacts = session.scalar(
            select(func.count()).select_from(Contact).where(Contact.phone == phone)
        )
    assert contacts == 0  # not even the contact or the conversation
    image = {"to": phone, "type": "image", "image": {"link": "https://example.com/a.jpg"}}
    assert client.post("/v1/messages", json=image, headers=enforcing.auth).status_code == 409


def test_enforced_a_template_opens_the_conversation_and_a_reply_opens_the_window(
    client: FlaskClient, enforcing: Tenant, worker: Worker, fake_provider: FakeProvider
) -> None:
    phone = new_phone()
    body = {"to": phone, "type": "template", "template": TEMPLATE}
    accepted = client.post("/v1/messages", json=body, headers=enforcing.auth)
    assert accepted.status_code == 202, accepted.get_json()
    assert accepted.get_json()["window_open"] is False
    conversation = _conversation(client, enforcing, phone)
    assert conversation is not None
    assert conversation["window_expires_at"] is None

    customer_writes(fake_provider, enforcing, phone, type="text", text={"body": "yes please"})

    def window() -> str | None:
        found = _conversation(client, enforcing, phone)
        return found["window_expires_at"] if found else None

    expires = datetime.fromisoformat(wait_for(window, what="window opened by the reply"))
    assert timedelta(hours=23) < expires - datetime.now(expires.tzinfo) <= timedelta(hours=24)
    reply = client.post("/v1/messages", json={"to": phone, "text": "hi"}, headers=enforcing.auth)
    assert reply.status_code == 202, reply.get_json()
    assert reply.get_json()["window_open"] is True


def test_off_a_text_to_a_closed_window_goes_to_meta_which_refuses_it(
    client: FlaskClient,
    tenant: Tenant,
    worker: Worker,
    fake_provider: FakeProvider,
    fake_enforces_window: None,
) -> None:
    response = client.post(
        "/v1/messages", json={"to": new_phone(), "text": "hi"}, headers=tenant.auth
    )
    assert response.status_code == 202
    assert response.get_json()["window_open"] is False
    message_id = response.get_json()["id"]

    def failed() -> dict[str, Any] | None:
        shown: dict[str, Any] = client.get(
            f"/v1/messages/{message_id}", headers=tenant.auth
        ).get_json()
        return shown if shown["status"] == "failed" else None

    assert wait_for(failed, what="refused outside the window")["error"]["code"] == "131047"


def test_the_policy_is_set_at_creation_and_changed_both_ways(
    wapipe: Wapipe, container: Container
) -> None:
    created = wapipe.json(
        "company", "create", "--name", "Clinic", "--phone-number-id", new_phone()[1:],
        "--access-token", "tok", "--window-policy", "enforce", "--json",
    )  # fmt: skip
    company_id = created["company_id"]

    def policy() -> str:
        with container.db.transaction() as session:
            found: str = session.scalar(
                select(Company.window_policy).where(Company.id == company_id)
            )
        return found

    assert policy() == "enforce"
    wapipe("company", "set", "--company", company_id, "--window-policy", "off")
    assert policy() == "off"
    wapipe("company", "set", "--company", company_id, "--window-policy", "x", code=2)
    assert policy() == "off"


def test_a_conversation_never_written_by_the_customer_has_no_window(
    client: FlaskClient, tenant: Tenant, container: Container
) -> None:
    phone = new_phone()
    created = client.post("/v1/conversations", json={"to": phone}, headers=tenant.auth)
    assert created.get_json()["window_expires_at"] is None
    with container.db.transaction() as session:
        assert session.scalar(select(Conversation.last_inbound_at).where(
            Conversation.id == created.get_json()["id"])) is None  # fmt: skip

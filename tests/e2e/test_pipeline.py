"""End to end: HTTP in, real gunicorn + dramatiq + fake provider, statuses back by webhook."""

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from pipeline.bootstrap import Container
from pipeline.services import tenants
from tests.e2e.conftest import Stack
from tests.support import new_phone, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def api(stack: Stack, container: Container, fake_admin: httpx.Client) -> Iterator[httpx.Client]:
    """An API client for a new company whose channel the fake provider knows."""
    pnid, token = str(uuid.uuid4().int % 10**15), f"tok-{uuid.uuid4().hex}"
    new = tenants.create_company(container.db, "E2E Co", pnid, token)
    fake_admin.put(f"/_fake/channels/{pnid}", json={"access_token": token}).raise_for_status()
    with httpx.Client(
        base_url=stack.api_url, headers={"Authorization": f"Bearer {new.api_key}"}, timeout=10
    ) as client:
        yield client


def _send(api: httpx.Client, to: str | None = None) -> str:
    response = api.post("/v1/messages", json={"to": to or new_phone(), "text": "e2e"})
    assert response.status_code == 202, response.text
    message_id: str = response.json()["id"]
    return message_id


def _wait_all(api: httpx.Client, ids: list[str], status: str, timeout: float = 30) -> list[Any]:
    def done() -> list[Any] | None:
        messages = [api.get(f"/v1/messages/{i}").json() for i in ids]
        return messages if all(m["status"] == status for m in messages) else None

    return wait_for(done, timeout=timeout, interval=0.2, what=f"{len(ids)} messages at {status}")


def test_a_batch_reaches_read_and_each_message_is_sent_once(
    api: httpx.Client, fake_admin: httpx.Client
) -> None:
    ids = [_send(api) for _ in range(30)]
    messages = _wait_all(api, ids, "read")
    assert all(m["provider_message_id"] for m in messages)
    for message_id in ids:
        assert fake_admin.get(f"/_fake/sends/{message_id}").json()["count"] == 1


def test_a_permanent_error_reaches_failed_with_its_code(
    api: httpx.Client, fake_admin: httpx.Client
) -> None:
    phone = new_phone()
    fake_admin.post("/_fake/rules", json={"to": phone.lstrip("+"), "code": 131047, "times": 1})
    [message] = _wait_all(api, [_send(api, phone)], "failed")
    assert message["error"]["code"] == "131047"
    assert message["attempts"] == 1


def test_a_transient_error_recovers(api: httpx.Client, fake_admin: httpx.Client) -> None:
    phone = new_phone()
    fake_admin.post("/_fake/rules", json={"to": phone.lstrip("+"), "code": 131000, "times": 4})
    message_id = _send(api, phone)
    [message] = _wait_all(api, [message_id], "read")
    assert message["attempts"] == 2
    assert fake_admin.get(f"/_fake/sends/{message_id}").json()["count"] == 1

"""Helpers shared by the integration and e2e tests."""

import json
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar

import phonenumbers
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.serving import make_server

from db.models import Message
from webhooks.signature import sign

T = TypeVar("T")

# Recorded Cloud API webhook bodies (copied from the provider notes), byte for byte.
PAYLOADS = Path(__file__).resolve().parent / "payloads"


def wait_for(
    check: Callable[[], T | None], timeout: float = 15.0, interval: float = 0.05, what: str = ""
) -> T:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or check}: last={last!r}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def serve_app(app: Flask) -> Iterator[str]:
    """Serve a Flask app on a real loopback socket in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


def status_body(
    phone_number_id: str, statuses: list[dict[str, Any]], messages: list[dict[str, Any]] = ()
) -> bytes:  # type: ignore[assignment]
    """A webhook body in the Cloud API's shape."""
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550009999", "phone_number_id": phone_number_id},
        "statuses": statuses,
    }
    if messages:
        value["messages"] = list(messages)
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "2000001", "changes": [{"field": "messages", "value": value}]}],
    }
    return json.dumps(payload).encode()


def status(
    wamid: str, state: str, ts: int, biz: uuid.UUID | str | None = None, **extra: Any
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": wamid,
        "status": state,
        "timestamp": str(ts),
        "recipient_id": "16505550142",
    }
    if biz is not None:
        item["biz_opaque_callback_data"] = str(biz)
    item.update(extra)
    return item


def signed_headers(secret: str, body: bytes) -> dict[str, str]:
    return {"X-Hub-Signature-256": sign(secret, body), "Content-Type": "application/json"}


class HasAuth(Protocol):
    @property
    def auth(self) -> dict[str, str]: ...


def send_message(
    client: FlaskClient, tenant: HasAuth, to: str | None = None, text: str = "x"
) -> str:
    """POST /v1/messages through the test client; the new message's id (asserts a 202)."""
    response = client.post(
        "/v1/messages", json={"to": to or new_phone(), "text": text}, headers=tenant.auth
    )
    assert response.status_code == 202, response.get_json()
    message_id: str = response.get_json()["id"]
    return message_id


def status_of(container: Any, message_id: str) -> str:
    """A message's status, read straight from PostgreSQL."""
    with container.db.transaction() as session:
        status: str = session.scalar(
            select(Message.status).where(Message.id == uuid.UUID(message_id))
        )
    return status


def new_phone() -> str:
    """A random valid US number from about eight million, so tests sharing a database (and
    the fake provider's per-recipient records) practically never collide."""
    while True:
        candidate = f"+1650{random.randint(200, 999)}{random.randint(0, 9999):04d}"
        if phonenumbers.is_valid_number(phonenumbers.parse(candidate)):
            return candidate

"""Events to the integrator: the outbox, signed retried webhooks to a real loopback receiver."""

import base64
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import dramatiq
import pytest
from dramatiq import Worker
from flask import Flask, request
from flask.testing import FlaskClient
from sqlalchemy import delete, func, select, text, update
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from werkzeug.serving import make_server

from db.models import Event, EventDelivery, WebhookEndpoint
from pipeline.bootstrap import Container, bootstrap
from pipeline.config import Settings
from pipeline.domain.statuses import Source, Status
from pipeline.events.dispatcher import Dispatcher
from pipeline.services.retention import prune_log, retention_periods
from pipeline.services.statuses import StatusReport, apply_status
from pipeline.services.webhook_endpoints import disable_failing_endpoints
from tests.cli_support import Wapipe
from tests.conftest import APP_SECRET, Member, Tenant
from tests.support import (
    free_port,
    new_phone,
    serve_app,
    signed_headers,
    status_body,
    wait_for,
)
from webhooks.service import process_webhook


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """Standard Webhooks' reference verification (their `standardwebhooks` package), which
    also refuses a timestamp more than 5 minutes off."""
    try:
        Webhook(secret).verify(body, headers)
    except WebhookVerificationError:
        return False
    return True


@dataclass
class Receiver:
    """A real HTTP receiver on loopback: records every POST; fails the first `fail_first`."""

    fail_first: int = 0
    seen: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> Flask:
        app = Flask("receiver")

        @app.post("/hook")
        def hook() -> tuple[str, int]:
            with self.lock:
                headers = {k.lower(): v for k, v in request.headers.items()}
                self.seen.append((headers, request.get_data()))
                failing = len(self.seen) <= self.fail_first
            return ("no", 500) if failing else ("", 204)

        return app

    def events(self, secret: str) -> list[dict[str, Any]]:
        """Every signed-and-verified event received (attempts included)."""
        with self.lock:
            seen = list(self.seen)
        out = []
        for headers, body in seen:
            assert verify(secret, headers, body), "a signature did not verify"
            out.append({"webhook-id": headers["webhook-id"]} | _json(body))
        return out


def _json(body: bytes) -> dict[str, Any]:
    import json

    value: dict[str, Any] = json.loads(body)
    return value


@pytest.fixture(scope="module")
def events_container(settings: Settings) -> Iterator[Container]:
    """The session's database and queues, with loopback endpoints allowed and a quick
    retry schedule (the default waits 5 s, then 5 min)."""
    allowed = settings.model_copy(
        update={
            "wapipe_events_allow_private_urls": True,
            "wapipe_events_retry_schedule": "1,2,4,8,16",
        }
    )
    c = bootstrap(allowed)
    yield c
    c.close()


@pytest.fixture(scope="module", autouse=True)
def _no_endpoint_outlives_this_module(events_container: Container) -> Iterator[None]:
    """Other modules' workers must not go on delivering (or refusing) these tests' events."""
    yield
    with events_container.db.transaction() as session:
        session.execute(delete(WebhookEndpoint))


@pytest.fixture
def events_worker(events_container: Container, live_url: str) -> Iterator[Worker]:
    dramatiq.set_broker(events_container.broker)
    w = Worker(events_container.broker, worker_threads=4, worker_timeout=100)
    w.start()
    yield w
    w.stop(timeout=10_000)


@pytest.fixture
def events_client(events_container: Container) -> FlaskClient:
    from pipeline.api.app import create_app

    return create_app(container=events_container).test_client()


def _register(client: FlaskClient, auth: dict[str, str], url: str, **extra: Any) -> dict[str, Any]:
    response = client.post("/v1/webhook-endpoints", json={"url": url, **extra}, headers=auth)
    assert response.status_code == 201, response.get_json()
    created: dict[str, Any] = response.get_json()
    return created


def _send(client: FlaskClient, tenant: Tenant) -> str:
    response = client.post(
        "/v1/messages", json={"to": new_phone(), "text": "hello"}, headers=tenant.auth
    )
    assert response.status_code == 202
    message_id: str = response.get_json()["id"]
    return message_id


def test_every_status_change_and_inbound_message_arrives_once_signed(
    events_client: FlaskClient,
    events_container: Container,
    events_worker: Worker,
    tenant: Tenant,
    other_tenant: Tenant,
) -> None:
    receiver, others = Receiver(), Receiver()
    with serve_app(receiver.app()) as url, serve_app(others.app()) as other_url:
        endpoint = _register(events_client, tenant.auth, f"{url}/hook")
        assert endpoint["secret"].startswith("whsec_")
        assert len(base64.b64decode(endpoint["secret"][6:])) >= 24
        assert endpoint["events"] == ["message.status", "message.received", "conversation.updated"]
        other = _register(events_client, other_tenant.auth, f"{other_url}/hook")
        message_id = _send(events_client, tenant)

        def changes() -> list[str] | None:
            """The message's status changes once it is read (the fake's statuses may
            arrive out of order: a `read` first leaves `sent` and `delivered` no change)."""
            message = events_client.get(f"/v1/messages/{message_id}", headers=tenant.auth)
            document = message.get_json()
            if document["status"] != "read":
                return None
            history = document["history"]
            return [h["status"] for h in history if h["applied"] and h["status"] != "sending"]

        applied = wait_for(changes, timeout=30, what="the message to be read")

        def statuses() -> list[dict[str, Any]] | None:
            found = [
                e["data"]
                for e in receiver.events(endpoint["secret"])
                if e["type"] == "message.status" and e["data"]["id"] == message_id
            ]
            return found if len(found) >= len(applied) else None

        # One event per change, each as the message was right after it.
        got = wait_for(statuses, timeout=30, what="an event per status change")
        assert sorted(e["status"] for e in got) == sorted(applied)
        for data in got:
            if data["status"] == "sent":
                assert data["delivered_at"] is None
            if data["status"] in ("sent", "delivered"):
                assert data["read_at"] is None

        wamid = f"wamid.{uuid.uuid4().hex}"
        inbound = {
            "from": new_phone().lstrip("+"),
            "id": wamid,
            "timestamp": "1763800000",
            "type": "text",
            "text": {"body": "where is my order?"},
        }
        body = status_body(tenant.phone_number_id, [], messages=[inbound])
        for _ in range(2):  # Meta delivers at least once: one message, one event
            answer = events_client.post(
                "/webhooks/whatsapp", data=body, headers=signed_headers(APP_SECRET, body)
            )
            process_webhook(events_container.db, answer.get_json()["received"])

        def received() -> list[dict[str, Any]] | None:
            return [
                e
                for e in receiver.events(endpoint["secret"])
                if e["type"] == "message.received" and e["data"]["provider_message_id"] == wamid
            ] or None

        [event] = wait_for(received, timeout=15, what="the inbound message's event")
        assert event["data"]["direction"] == "inbound"
        assert event["data"]["text"] == "where is my order?"
        assert event["id"] == event["webhook-id"]
        assert event["id"].startswith("evt_")

        events = receiver.events(endpoint["secret"])
        ids = [e["webhook-id"] for e in events]
        assert len(ids) == len(set(ids)), "an event arrived twice"
        assert all("history" not in e["data"] for e in events)
        # Nothing of one company reaches another's endpoint.
        assert all(e["data"].get("id") != message_id for e in others.events(other["secret"]))


def test_a_receiver_failing_the_first_tries_gets_the_event_later_with_the_same_id(
    events_client: FlaskClient, events_worker: Worker, tenant: Tenant
) -> None:
    receiver = Receiver(fail_first=2)
    with serve_app(receiver.app()) as url:
        endpoint = _register(
            events_client, tenant.auth, f"{url}/hook", events=["conversation.updated"]
        )
        conversation = events_client.post(
            "/v1/conversations", json={"to": new_phone()}, headers=tenant.auth
        ).get_json()
        answer = events_client.post(
            f"/v1/conversations/{conversation['id']}/read", headers=tenant.auth
        )
        assert answer.status_code == 200
        wait_for(lambda: len(receiver.seen) >= 3, timeout=20, what="two retries")
        events = receiver.events(endpoint["secret"])
        assert {e["webhook-id"] for e in events[:3]} == {events[0]["id"]}
        assert events[0]["type"] == "conversation.updated"
        assert events[0]["data"]["id"] == conversation["id"]
        assert events[0]["data"]["unread_count"] == 0


def test_a_rolled_back_change_has_no_event(events_container: Container, tenant: Tenant,
                                           events_client: FlaskClient) -> None:  # fmt: skip
    message_id = uuid.UUID(_send(events_client, tenant))
    db = events_container.db
    with db.transaction() as session:
        before = session.scalar(select(func.count()).where(Event.message_id == message_id))

    class Boom(Exception):
        pass

    def change_then_fail() -> None:
        with db.transaction() as session:
            report = StatusReport(Status.FAILED, at=_now(), source=Source.OPERATOR)
            decision = apply_status(session, message_id, report)
            assert decision is not None
            assert decision.applied
            written = session.scalar(select(func.count()).where(Event.message_id == message_id))
            assert written == (before or 0) + 1
            raise Boom

    with pytest.raises(Boom):
        change_then_fail()
    with db.transaction() as session:
        after = session.scalar(select(func.count()).where(Event.message_id == message_id))
    assert after == before


def test_a_private_url_is_refused_unless_allowed(client: FlaskClient, tenant: Tenant) -> None:
    for url in (
        "http://127.0.0.1:9/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://metadata.google.internal/x",
    ):
        response = client.post("/v1/webhook-endpoints", json={"url": url}, headers=tenant.auth)
        assert response.status_code == 400, url
        assert response.get_json()["error"]["code"] == "VALIDATION_ERROR"
    response = client.post(
        "/v1/webhook-endpoints", json={"url": "ftp://example.com/"}, headers=tenant.auth
    )
    assert response.status_code == 400


def test_agents_are_forbidden_and_other_companies_endpoints_are_not_found(
    events_client: FlaskClient, tenant: Tenant, other_tenant: Tenant, agent: Member
) -> None:
    created = _register(events_client, tenant.auth, "http://127.0.0.1:9/hook")
    assert events_client.get("/v1/webhook-endpoints", headers=agent.auth).status_code == 403
    path = f"/v1/webhook-endpoints/{created['id']}"
    assert events_client.delete(path, headers=other_tenant.auth).status_code == 404
    rotate = events_client.post(f"{path}/rotate-secret", headers=other_tenant.auth)
    assert rotate.status_code == 404
    listed = events_client.get("/v1/webhook-endpoints", headers=tenant.auth).get_json()["items"]
    assert [e["id"] for e in listed] == [created["id"]]
    assert "secret" not in listed[0]
    rotated = events_client.post(f"{path}/rotate-secret", headers=tenant.auth).get_json()
    assert rotated["secret"].startswith("whsec_")
    assert rotated["secret"] != created["secret"]
    assert events_client.delete(path, headers=tenant.auth).status_code == 204
    assert events_client.get("/v1/webhook-endpoints", headers=tenant.auth).get_json() == {
        "items": []
    }


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def test_a_receiver_down_for_a_minute_loses_nothing(
    events_client: FlaskClient, events_container: Container, tenant: Tenant
) -> None:
    port = free_port()
    endpoint = _register(events_client, tenant.auth, f"http://127.0.0.1:{port}/hook")
    conversation_id = _conversation_read(events_client, tenant)
    # Svix's schedule waits 5 s, then 5 min: a minute's outage is within its first retries.
    # This one is quicker and still outlasts the minute: about 0, 1, 3, 7, 15, 31, 63 s.
    patient = events_container.settings.model_copy(
        update={"wapipe_events_retry_schedule": "1,2,4,8,16,32,64"}
    )
    dispatcher = Dispatcher(events_container.db, patient)

    def tries() -> int:
        with events_container.db.transaction() as session:
            count = session.scalar(
                select(func.max(EventDelivery.attempts)).where(
                    EventDelivery.endpoint_id == uuid.UUID(endpoint["id"])
                )
            )
        return int(count or 0)

    receiver = Receiver()
    server = None
    try:
        back_at = time.monotonic() + 60
        while time.monotonic() < back_at:  # the outage: a minute of refused connections
            dispatcher.run_once()
            time.sleep(0.2)  # the dispatcher's own poll interval, not a wait for a condition
        assert tries() >= 3  # it kept trying (jittered), and never gave the event up
        # Bound only now: a listening socket would queue the POSTs instead of refusing them.
        server = make_server("127.0.0.1", port, receiver.app(), threaded=True)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()

        def delivered() -> bool:
            dispatcher.run_once()
            return bool(receiver.seen)

        wait_for(delivered, timeout=40, interval=0.2, what="the event once the receiver is up")
    finally:
        dispatcher.stop()
        if server is not None:
            server.shutdown()
            thread.join(5)
            server.server_close()
    events = receiver.events(endpoint["secret"])
    [event] = events
    assert event["data"]["id"] == conversation_id


def test_after_a_rotation_both_secrets_sign_and_a_receiver_holding_either_verifies(
    events_client: FlaskClient, events_worker: Worker, tenant: Tenant
) -> None:
    receiver = Receiver()
    with serve_app(receiver.app()) as url:
        old = _register(events_client, tenant.auth, f"{url}/hook")
        path = f"/v1/webhook-endpoints/{old['id']}/rotate-secret"
        new = events_client.post(path, headers=tenant.auth).get_json()
        _conversation_read(events_client, tenant)
        wait_for(lambda: receiver.seen, timeout=15, what="an event")
    headers, body = receiver.seen[0]
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert verify(old["secret"], headers, body)
    assert verify(new["secret"], headers, body)
    assert not verify("whsec_" + base64.b64encode(b"x" * 32).decode(), headers, body)


def test_an_endpoint_failing_for_five_days_is_disabled_and_shows_so(
    events_client: FlaskClient, events_container: Container, tenant: Tenant
) -> None:
    endpoint = _register(events_client, tenant.auth, "http://127.0.0.1:9/hook")
    endpoint_id = uuid.UUID(endpoint["id"])
    db = events_container.db
    with db.transaction() as session:
        session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint_id)
            .values(failing_since=func.now() - text("interval '4 days 23 hours'"))
        )
    assert endpoint_id not in disable_failing_endpoints(db, 120)
    with db.transaction() as session:
        session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint_id)
            .values(failing_since=func.now() - text("interval '5 days 1 hour'"))
        )
    assert endpoint_id in disable_failing_endpoints(db, 120)
    [listed] = events_client.get("/v1/webhook-endpoints", headers=tenant.auth).get_json()["items"]
    assert listed["disabled_at"] is not None
    assert listed["disabled_reason"] == "failing"


def test_operators_list_failed_deliveries_replay_them_and_toggle_endpoints(
    events_client: FlaskClient, events_container: Container, tenant: Tenant, wapipe: Wapipe
) -> None:
    endpoint = _register(events_client, tenant.auth, f"http://127.0.0.1:{free_port()}/hook")
    _conversation_read(events_client, tenant)
    # No retries: the one refused try fails the delivery for good.
    once = events_container.settings.model_copy(update={"wapipe_events_retry_schedule": ""})
    dispatcher = Dispatcher(events_container.db, once)
    try:

        def failed() -> list[dict[str, Any]] | None:
            dispatcher.run_once()
            args = ("events", "list", "--endpoint", endpoint["id"], "--status", "failed")
            return wapipe.json(*args, "--json") or None

        [row] = wait_for(failed, timeout=15, what="a failed delivery")
    finally:
        dispatcher.stop()
    assert row["type"] == "conversation.updated"
    assert row["attempts"] == 1
    assert row["last_error"] == "NewConnectionError"
    oncall = f"oncall-{uuid.uuid4().hex[:8]}"
    replayed = wapipe.json(
        "events", "replay", "--endpoint", endpoint["id"], "--since", "1h",
        "--actor", oncall, "--reason", "receiver was down", "--json",
    )  # fmt: skip
    assert replayed["replayed"] == 1
    [action] = wapipe.json("audit", "--action", "events.replay", "--limit", "1", "--json")
    assert action["id"] == replayed["action_id"]
    assert (action["actor"], action["reason"]) == (oncall, "receiver was down")
    assert action["company_id"] == str(tenant.company_id)
    assert action["details"]["endpoint_id"] == endpoint["id"]
    assert action["details"]["replayed"] == 1
    assert action["finished_at"]
    [pending] = wapipe.json("events", "list", "--endpoint", endpoint["id"], "--json")
    assert pending["status"] == "pending"
    assert pending["event_id"] == row["event_id"]

    wapipe("endpoints", "disable", endpoint["id"], "--actor", oncall)
    [shown] = [e for e in wapipe.json("endpoints", "list", "--json") if e["id"] == endpoint["id"]]
    assert shown["disabled_reason"] == "operator"
    wapipe("endpoints", "enable", endpoint["id"], "--actor", oncall)
    [shown] = [e for e in wapipe.json("endpoints", "list", "--json") if e["id"] == endpoint["id"]]
    assert shown["disabled_at"] is None
    toggled = wapipe.json("audit", "--actor", oncall, "--limit", "3", "--json")
    assert [a["action"] for a in toggled] == [
        "endpoints.enable",
        "endpoints.disable",
        "events.replay",
    ]
    assert {a["details"]["endpoint_id"] for a in toggled} == {endpoint["id"]}
    wapipe("endpoints", "enable", str(uuid.uuid4()), code=1)


def test_the_outbox_is_pruned_after_its_retention_but_never_what_is_still_owed(
    events_container: Container, events_client: FlaskClient, tenant: Tenant
) -> None:
    db = events_container.db
    endpoint = _register(events_client, tenant.auth, "http://127.0.0.1:9/hook")
    old, owed = (_conversation_read(events_client, tenant) for _ in range(2))
    fanning = Dispatcher(db, events_container.settings)  # not started: its statements only
    fanning.fan_out()
    fanning.stop()
    ids = {}
    with db.transaction() as session:
        for conversation_id in (old, owed):
            ids[conversation_id] = session.scalar(
                select(Event.id).where(Event.data["id"].astext == conversation_id)
            )
        session.execute(
            update(Event)
            .where(Event.id.in_(ids.values()))
            .values(created_at=func.now() - text("interval '4 days'"))
        )
        session.execute(
            update(EventDelivery)
            .where(EventDelivery.event_id == ids[old])
            .values(status="failed", created_at=func.now() - text("interval '4 days'"))
        )
    keep = retention_periods(events_container.settings)["events"]
    assert keep == timedelta(hours=72)
    prune_log(db, "event_deliveries", keep)
    prune_log(db, "events", keep)
    with db.transaction() as session:
        left = set(session.scalars(select(Event.id).where(Event.id.in_(ids.values()))))
        owed_to = session.scalar(select(func.count()).where(EventDelivery.event_id == ids[owed]))
    assert left == {ids[owed]}  # its delivery to the endpoint is still pending
    assert owed_to == 1
    assert endpoint["id"]


def _conversation_read(client: FlaskClient, tenant: Tenant) -> str:
    conversation = client.post(
        "/v1/conversations", json={"to": new_phone()}, headers=tenant.auth
    ).get_json()
    answer = client.post(f"/v1/conversations/{conversation['id']}/read", headers=tenant.auth)
    assert answer.status_code == 200
    conversation_id: str = conversation["id"]
    return conversation_id


def test_a_failure_and_a_retry_back_to_sending_are_events_too(
    events_client: FlaskClient, events_container: Container, tenant: Tenant
) -> None:
    message_id = uuid.UUID(_send(events_client, tenant))
    with events_container.db.transaction() as session:
        report = StatusReport(Status.FAILED, at=_now(), source=Source.OPERATOR)
        apply_status(session, message_id, report)
    retried = events_client.post(f"/v1/messages/{message_id}/retry", headers=tenant.auth)
    assert retried.status_code == 202
    with events_container.db.transaction() as session:
        rows = session.execute(
            select(Event.type, Event.data["status"].astext)
            .where(Event.message_id == message_id)
            .order_by(Event.id)
        ).all()
    # A worker may have sent it meanwhile: the failure and the retry are the last two here.
    assert [tuple(r) for r in rows if r[1] in ("failed", "sending")][-2:] == [
        ("message.status", "failed"),
        ("message.status", "sending"),
    ]


def test_the_stream_without_gunicorn_still_serves_and_resumes(
    events_client: FlaskClient, tenant: Tenant
) -> None:
    # The development server's way (a thread per stream); `wapipe api`'s is e2e-tested.
    response = events_client.get("/v1/events/stream", headers=tenant.auth, buffered=False)
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    chunks = _chunks(response)
    assert next(chunks) == b": connected\n\n"
    first = _conversation_read(events_client, tenant)
    block = next(chunk for chunk in chunks if not chunk.startswith(b":")).decode()
    fields = dict(line.split(": ", 1) for line in block.strip().splitlines())
    assert fields["event"] == "conversation.updated"
    assert _json(fields["data"].encode())["data"]["id"] == first
    response.close()
    second = _conversation_read(events_client, tenant)
    resumed = events_client.get(
        f"/v1/events/stream?last_event_id={fields['id']}", headers=tenant.auth, buffered=False
    )
    chunks = _chunks(resumed)
    block = next(chunk for chunk in chunks if not chunk.startswith(b":")).decode()
    assert second in block
    resumed.close()
    bad = events_client.get("/v1/events/stream?last_event_id=nope", headers=tenant.auth)
    assert bad.status_code == 400
    assert events_client.get("/v1/events/stream").status_code == 401


def _chunks(response: Any) -> Iterator[bytes]:
    """A streamed test-client answer's body, chunk by chunk, as the generator yields them."""
    for chunk in response.response:
        yield bytes(chunk)

"""The fake WhatsApp Cloud API over real loopback HTTP, with a real webhook receiver."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import click
import httpx
import pytest
from click.testing import CliRunner

from fakeprovider import FakeConfig, FakeProvider
from fakeprovider.latency import LatencyRecorder
from fakeprovider.server import API_VERSION
from pipeline.cli.fake_provider import fake_provider, parse_channel
from webhooks.signature import is_valid_signature

pytestmark = pytest.mark.timeout(30)

SECRET = "test-app-secret"
PNID, TOKEN, DISPLAY = "1000001", "token-1000001", "15550009999"
TO = "16505550142"
RANK = {"sent": 0, "delivered": 1, "read": 2, "failed": 1}
T = TypeVar("T")
# One CA bundle for every client: loading it per client would cost ~50 ms a test.
VERIFY = ssl.create_default_context()


def wait_for(check: Callable[[], T], timeout: float = 5.0, what: str = "condition") -> T:
    """Poll until ``check`` returns something truthy, failing at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


class Receiver:
    """A webhook endpoint recording each POST; ``fail_next`` answers that many with HTTP 500."""

    def __init__(self, keep_alive: bool = False) -> None:
        self.posts: list[tuple[dict[str, str], bytes]] = []
        self.fail_next = 0
        self.answer_after_s = 0.0  # a slow receiver, for the fake's latency figures
        self.connections: list[socket.socket] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            # HTTP/1.1 keeps a connection open between POSTs, as gunicorn does.
            protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"

            def setup(self) -> None:
                super().setup()
                with receiver.lock:
                    receiver.connections.append(self.connection)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                time.sleep(receiver.answer_after_s)  # simulated work, not synchronisation
                with receiver.lock:
                    failing = receiver.fail_next > 0
                    receiver.fail_next -= int(failing)
                    if not failing:
                        receiver.posts.append((dict(self.headers.items()), body))
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/webhooks/whatsapp"

    def bodies(self) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(body) for _, body in self.posts]

    def statuses(self) -> list[dict[str, Any]]:
        return [
            status
            for body in self.bodies()
            for entry in body["entry"]
            for change in entry["changes"]
            for status in change["value"]["statuses"]
        ]

    def drop_connections(self) -> None:
        """Close every connection from our side, as a server does with idle keep-alive ones."""
        with self.lock:
            connections, self.connections = self.connections, []
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.drop_connections()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def fake(receiver: Receiver) -> Iterator[FakeProvider]:
    config = FakeConfig(webhook_url=receiver.url, app_secret=SECRET, status_delay_ms=20)
    with FakeProvider(config, channels=[(PNID, TOKEN, DISPLAY)]) as provider:
        yield provider


@pytest.fixture
def client(fake: FakeProvider) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake.api_url, timeout=5.0, verify=VERIFY) as c:
        yield c


def message(to: str = TO, biz: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "text",
        "text": {"body": "hello", "preview_url": False},
    }
    if biz is not None:
        body["biz_opaque_callback_data"] = biz
    return {**body, **extra}


def send(client: httpx.Client, body: Any, pnid: str = PNID, token: str = TOKEN) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post(f"/{pnid}/messages", json=body, headers=headers)


def admin(fake: FakeProvider, method: str, path: str, body: Any = None) -> Any:
    response = httpx.request(method, fake.url + path, json=body, timeout=5.0, verify=VERIFY)
    assert response.status_code == 200, response.text
    return response.json()


def assert_meta_error(response: httpx.Response, status: int, code: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["type"] == "OAuthException"
    assert error["error_data"]["messaging_product"] == "whatsapp"
    assert isinstance(error["error_data"]["details"], str)
    assert error["fbtrace_id"]
    return dict(error)


def test_send_returns_wamid_and_posts_signed_statuses(
    fake: FakeProvider, client: httpx.Client, receiver: Receiver
) -> None:
    response = send(client, message(to="+" + TO, biz="msg-1"))
    assert response.status_code == 200
    data = response.json()
    assert data["messaging_product"] == "whatsapp"
    assert data["contacts"] == [{"input": "+" + TO, "wa_id": TO}]
    wamid = data["messages"][0]["id"]
    assert wamid.startswith("wamid.")

    wait_for(lambda: len(receiver.statuses()) == 3, what="three statuses")
    for headers, body in receiver.posts:
        assert is_valid_signature(SECRET, body, headers["X-Hub-Signature-256"])
        assert headers["Content-Type"] == "application/json"
    entry = receiver.bodies()[0]["entry"][0]
    assert receiver.bodies()[0]["object"] == "whatsapp_business_account"
    value = entry["changes"][0]["value"]
    assert entry["changes"][0]["field"] == "messages"
    assert value["metadata"] == {"display_phone_number": DISPLAY, "phone_number_id": PNID}
    statuses = sorted(receiver.statuses(), key=lambda s: RANK[s["status"]])
    assert [s["status"] for s in statuses] == ["sent", "delivered", "read"]
    assert all(s["id"] == wamid and s["recipient_id"] == TO for s in statuses)
    assert all(s["biz_opaque_callback_data"] == "msg-1" for s in statuses)
    stamps = [int(s["timestamp"]) for s in statuses]
    assert stamps == sorted(stamps)
    assert statuses[0]["pricing"]["billable"] is True
    assert "origin" in statuses[0]["conversation"]


def test_path_without_version_and_template(fake: FakeProvider) -> None:
    template = {"name": "order_update", "language": {"code": "en_US"}}
    body = message(type="template", template=template)
    del body["text"]
    headers = {"Authorization": f"Bearer {TOKEN}"}
    response = httpx.post(f"{fake.url}/{PNID}/messages", json=body, headers=headers, verify=VERIFY)
    assert response.status_code == 200
    assert admin(fake, "GET", "/_fake/sends")["accepted"] == 1


def test_auth_errors_are_meta_shaped(fake: FakeProvider, client: httpx.Client) -> None:
    error = assert_meta_error(send(client, message(), pnid="999"), 400, 100)
    assert "Object with ID '999' does not exist" in error["message"]
    error = assert_meta_error(send(client, message(), token="wrong"), 401, 190)
    assert error["message"].startswith("Invalid OAuth access token")
    assert_meta_error(send(client, message(), token=""), 401, 190)
    assert_meta_error(client.get("/nowhere"), 404, 100)

    admin(fake, "PATCH", "/_fake/config", {"accept_any_token": True})
    assert send(client, message(), pnid="999", token="anything").status_code == 200
    assert_meta_error(send(client, message(), pnid="999", token=""), 401, 190)


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (message(messaging_product="sms"), "messaging_product"),
        (message(to="12ab"), "to"),
        (message(to="123"), "to"),
        (message(text={"body": ""}), "text"),
        (message(text={"body": "x" * 4097}), "4096"),
        (message(type="image"), "type"),
        (message(biz="b" * 513), "biz_opaque_callback_data"),
        (message(context={"message_id": 5}), "context"),
        ([1, 2], "JSON object"),
    ],
)
def test_invalid_bodies_get_code_100(client: httpx.Client, body: Any, detail: str) -> None:
    error = assert_meta_error(send(client, body), 400, 100)
    assert error["message"] == "(#100) Invalid parameter"
    assert detail in error["error_data"]["details"]


def test_non_json_body_and_limits(client: httpx.Client) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    assert_meta_error(client.post(f"/{PNID}/messages", content=b"{nope", headers=headers), 400, 100)
    assert send(client, message(text={"body": "x" * 4096}, biz="b" * 512)).status_code == 200
    assert send(client, message(context={"message_id": "wamid.X"})).status_code == 200


def test_rules_fail_the_next_sends_deterministically(
    fake: FakeProvider, client: httpx.Client
) -> None:
    admin(fake, "POST", "/_fake/rules", {"to": TO, "code": 131000, "times": 2})
    assert_meta_error(send(client, message()), 500, 131000)
    assert send(client, message(to="15550000001")).status_code == 200
    error = assert_meta_error(send(client, message()), 500, 131000)
    assert error["message"] == "(#131000) Something went wrong"
    assert send(client, message()).status_code == 200

    admin(fake, "POST", "/_fake/rules", {"to": None, "code": 130429, "times": 5})
    assert_meta_error(send(client, message(to="15550000002")), 429, 130429)
    admin(fake, "DELETE", "/_fake/rules")
    assert send(client, message()).status_code == 200
    assert admin(fake, "GET", "/_fake/sends")["accepted"] == 3


@pytest.mark.parametrize(
    ("code", "status", "title"),
    [(131056, 429, "pair rate limit"), (131047, 400, "Re-engagement"), (131016, 503, "")],
)
def test_error_rate_injects_codes(
    fake: FakeProvider, client: httpx.Client, code: int, status: int, title: str
) -> None:
    admin(fake, "PATCH", "/_fake/config", {"error_rate": 1.0, "error_codes": [code]})
    error = assert_meta_error(send(client, message()), status, code)
    assert title in error["message"]
    assert admin(fake, "GET", "/_fake/sends") == {"accepted": 0, "requests": 1, "by_callback": {}}


def test_timeout_accepts_then_hangs_without_blocking_others(
    fake: FakeProvider, receiver: Receiver
) -> None:
    admin(fake, "PATCH", "/_fake/config", {"timeout_rate": 1.0, "timeout_seconds": 20})
    hasty = httpx.Client(base_url=fake.api_url, timeout=0.3, verify=VERIFY)
    with hasty, pytest.raises(httpx.ReadTimeout):
        send(hasty, message(biz="ambiguous"))
    started = time.monotonic()
    assert admin(fake, "GET", "/_fake/sends/ambiguous")["count"] == 1
    assert time.monotonic() - started < 1.0
    statuses = wait_for(receiver.statuses, what="statuses of the hung send")
    assert statuses[0]["biz_opaque_callback_data"] == "ambiguous"


def test_latency_is_added(fake: FakeProvider, client: httpx.Client) -> None:
    admin(fake, "PATCH", "/_fake/config", {"latency_ms": 150})
    started = time.monotonic()
    assert send(client, message()).status_code == 200
    assert time.monotonic() - started >= 0.15


def test_fail_rate_sends_sent_then_failed(
    fake: FakeProvider, client: httpx.Client, receiver: Receiver
) -> None:
    admin(fake, "PATCH", "/_fake/config", {"fail_rate": 1.0})
    assert send(client, message(biz="doomed")).status_code == 200
    wait_for(lambda: len(receiver.statuses()) == 2, what="two statuses")
    by_status = {s["status"]: s for s in receiver.statuses()}
    assert set(by_status) == {"sent", "failed"}
    failure = by_status["failed"]["errors"][0]
    assert failure["code"] == 131026
    assert failure["title"] == "Message undeliverable"
    assert by_status["failed"]["biz_opaque_callback_data"] == "doomed"


def test_duplicates_post_each_status_twice(
    fake: FakeProvider, client: httpx.Client, receiver: Receiver
) -> None:
    admin(fake, "PATCH", "/_fake/config", {"duplicate_rate": 1.0})
    send(client, message())
    wait_for(lambda: len(receiver.statuses()) == 6, what="six statuses")
    names = sorted(s["status"] for s in receiver.statuses())
    assert names == ["delivered", "delivered", "read", "read", "sent", "sent"]


def test_batch_combines_statuses_of_several_messages(
    fake: FakeProvider, client: httpx.Client, receiver: Receiver
) -> None:
    admin(fake, "PATCH", "/_fake/config", {"batch": True, "status_delay_ms": 100})
    wamids = {send(client, message(biz=f"b{i}")).json()["messages"][0]["id"] for i in range(5)}
    wait_for(lambda: len(receiver.statuses()) == 15, what="fifteen statuses")
    assert {s["id"] for s in receiver.statuses()} == wamids
    sizes = [len(b["entry"][0]["changes"][0]["value"]["statuses"]) for b in receiver.bodies()]
    assert len(sizes) < 15
    assert max(sizes) > 1
    for headers, body in receiver.posts:
        assert is_valid_signature(SECRET, body, headers["X-Hub-Signature-256"])


def test_reorder_shuffles_posting_but_keeps_timestamps_logical(
    receiver: Receiver,
) -> None:
    config = FakeConfig(webhook_url=receiver.url, app_secret=SECRET, reorder=True)
    config.status_delay_ms = 30
    with FakeProvider(config, channels=[(PNID, TOKEN, DISPLAY)], seed=7) as fake:
        with httpx.Client(base_url=fake.api_url, verify=VERIFY) as client:
            for i in range(10):
                assert send(client, message(biz=f"r{i}")).status_code == 200
        wait_for(lambda: len(receiver.statuses()) == 30, what="thirty statuses")
    arrival: dict[str, list[dict[str, Any]]] = {}
    for status in receiver.statuses():
        arrival.setdefault(status["id"], []).append(status)
    out_of_order = 0
    for statuses in arrival.values():
        ranks = [RANK[s["status"]] for s in statuses]
        out_of_order += ranks != sorted(ranks)
        logical = sorted(statuses, key=lambda s: RANK[s["status"]])
        stamps = [int(s["timestamp"]) for s in logical]
        assert stamps == sorted(stamps)
    assert out_of_order > 0


def test_failed_webhook_posts_are_retried(
    fake: FakeProvider, client: httpx.Client, receiver: Receiver
) -> None:
    receiver.fail_next = 1
    send(client, message())
    wait_for(lambda: len(receiver.statuses()) == 3, what="statuses after a 500")
    assert admin(fake, "GET", "/_fake/webhooks")["failures"] >= 1


def test_statuses_reach_a_receiver_that_comes_back(
    fake: FakeProvider, client: httpx.Client, receiver: Receiver
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/webhooks/whatsapp"
    admin(fake, "PATCH", "/_fake/config", {"webhook_url": dead})
    send(client, message())
    wait_for(lambda: admin(fake, "GET", "/_fake/webhooks")["failures"] >= 1, what="a failure")
    admin(fake, "PATCH", "/_fake/config", {"webhook_url": receiver.url})
    wait_for(lambda: len(receiver.statuses()) == 3, what="statuses after the receiver is back")


def test_webhook_latency_percentiles_count_every_post_and_reset(
    fake: FakeProvider, client: httpx.Client, receiver: Receiver
) -> None:
    assert admin(fake, "GET", "/_fake/webhook-latency")["p95_ms"] is None
    receiver.answer_after_s = 0.03
    receiver.fail_next = 1  # a failed POST is timed too: the sender waited for it all the same
    for i in range(3):
        assert send(client, message(biz=f"l{i}")).status_code == 200
    wait_for(lambda: len(receiver.statuses()) == 9, what="nine statuses")
    latency = wait_for(
        lambda: (body := admin(fake, "GET", "/_fake/webhook-latency"))["count"] == 10 and body,
        what="ten timed POSTs",
    )
    assert 30 <= latency["p50_ms"] <= latency["p95_ms"] <= latency["p99_ms"] <= latency["max_ms"]
    assert admin(fake, "GET", "/_fake/webhooks")["failures"] == 1  # the old fields stay

    admin(fake, "POST", "/_fake/reset")
    assert admin(fake, "GET", "/_fake/webhook-latency") == {
        "count": 0,
        "p50_ms": None,
        "p95_ms": None,
        "p99_ms": None,
        "max_ms": None,
    }


def test_webhooks_reuse_connections_and_survive_the_receiver_closing_them() -> None:
    receiver = Receiver(keep_alive=True)
    config = FakeConfig(webhook_url=receiver.url, app_secret=SECRET, status_delay_ms=20)
    try:
        with FakeProvider(config, channels=[(PNID, TOKEN, DISPLAY)]) as fake:
            with httpx.Client(base_url=fake.api_url, timeout=5.0, verify=VERIFY) as client:
                for i in range(4):
                    assert send(client, message(biz=f"k{i}")).status_code == 200
                wait_for(lambda: admin(fake, "GET", "/_fake/webhooks")["posts"] == 12, what="12")
                assert len(receiver.connections) <= 4  # one per sender thread, not one per POST

                receiver.drop_connections()  # idle keep-alive connections closed by the receiver
                assert send(client, message(biz="after")).status_code == 200
                wait_for(lambda: admin(fake, "GET", "/_fake/webhooks")["posts"] == 15, what="15")
            assert admin(fake, "GET", "/_fake/webhooks")["failures"] == 0
            assert len(receiver.statuses()) == 15
    finally:
        receiver.close()


def test_latency_memory_stays_bounded_however_many_posts() -> None:
    recorder = LatencyRecorder(size=100, seed=3)
    for ms in range(1, 10_001):
        recorder.record(float(ms))
    summary = recorder.summary()
    assert summary["count"] == 10_000
    assert summary["max_ms"] == 10_000
    assert len(recorder._samples) == 100
    # A uniform sample of 1..10,000: its median lands near the middle, not at either end.
    assert 3_000 < summary["p50_ms"] < 7_000


def test_counters_recipients_and_reset(fake: FakeProvider, client: httpx.Client) -> None:
    for to, biz in [(TO, "a"), ("15550000001", "b"), (TO, "c"), (TO, "a")]:
        assert send(client, message(to=to, biz=biz)).status_code == 200
    send(client, message(), token="wrong")
    summary = admin(fake, "GET", "/_fake/sends")
    assert summary == {"accepted": 4, "requests": 5, "by_callback": {"a": 2, "b": 1, "c": 1}}
    sends_a = admin(fake, "GET", "/_fake/sends/a")
    assert sends_a["count"] == 2
    assert sends_a["order"] == [1, 4]
    assert len(set(sends_a["wamids"])) == 2
    assert sends_a["bodies"][0]["to"] == TO
    assert admin(fake, "GET", f"/_fake/recipients/{TO}") == {"callbacks": ["a", "c", "a"]}

    admin(fake, "PATCH", "/_fake/config", {"status_delay_ms": 5000})
    admin(fake, "POST", "/_fake/rules", {"to": None, "code": 131000})
    admin(fake, "POST", "/_fake/reset")
    assert admin(fake, "GET", "/_fake/webhooks")["pending"] == 0
    assert admin(fake, "GET", "/_fake/sends") == {"accepted": 0, "requests": 0, "by_callback": {}}
    assert admin(fake, "GET", "/_fake/sends/a")["count"] == 0
    assert send(client, message()).status_code == 200  # channel and config survived


def test_channels_and_config_endpoints(
    fake: FakeProvider, client: httpx.Client, receiver: Receiver
) -> None:
    assert admin(fake, "GET", "/_fake/healthz") == {"ok": True}
    channel = {"access_token": "t2", "display_phone_number": "15550002222"}
    admin(fake, "PUT", "/_fake/channels/2000002", channel)
    assert send(client, message(), pnid="2000002", token="t2").status_code == 200
    metadata = wait_for(lambda: receiver.bodies(), what="a webhook")[0]["entry"][0]["changes"][0]
    assert metadata["value"]["metadata"]["phone_number_id"] == "2000002"
    assert metadata["value"]["metadata"]["display_phone_number"] == "15550002222"

    config = admin(fake, "GET", "/_fake/config")
    assert config["app_secret"] == "***"
    assert config["status_delay_ms"] == 20
    assert admin(fake, "PATCH", "/_fake/config", {"latency_ms": 5})["latency_ms"] == 5
    for bad in [{"error_rate": 2}, {"nope": 1}, {"reorder": "yes"}, {"error_codes": []}]:
        response = httpx.patch(fake.url + "/_fake/config", json=bad, verify=VERIFY)
        assert_meta_error(response, 400, 100)


def test_no_statuses_switch(fake: FakeProvider, client: httpx.Client) -> None:
    admin(fake, "PATCH", "/_fake/config", {"send_statuses": False})
    send(client, message())
    assert admin(fake, "GET", "/_fake/webhooks")["pending"] == 0


def test_concurrent_keepalive_clients(fake: FakeProvider) -> None:
    admin(fake, "PATCH", "/_fake/config", {"send_statuses": False})

    def burst(n: int) -> list[str]:
        with httpx.Client(base_url=fake.api_url, timeout=5.0, verify=VERIFY) as c:
            return [
                send(c, message(biz=f"k{n}-{i}")).json()["messages"][0]["id"] for i in range(25)
            ]

    with ThreadPoolExecutor(8) as pool:
        wamids = [w for batch in pool.map(burst, range(8)) for w in batch]
    assert len(set(wamids)) == 200
    assert admin(fake, "GET", "/_fake/sends")["accepted"] == 200


def _post_raw(conn: http.client.HTTPConnection, body: dict[str, Any]) -> http.client.HTTPResponse:
    data = json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    conn.request("POST", f"/{API_VERSION}/{PNID}/messages", body=data, headers=headers)
    response = conn.getresponse()
    response.read()
    return response


def test_one_connection_carries_many_sends(fake: FakeProvider) -> None:
    """As Meta's Graph API does, the fake keeps a connection open between requests, however
    large or unread a body was (a send costs no new TCP handshake)."""
    admin(fake, "PATCH", "/_fake/config", {"send_statuses": False})
    conn = http.client.HTTPConnection(fake.host, fake.port, timeout=5)
    try:
        _post_raw(conn, message(biz="first"))
        local = conn.sock.getsockname()
        answers = [_post_raw(conn, message(biz=f"k{i}", pad="x" * 70_000)) for i in range(20)]
        conn.request("GET", "/_fake/sends")  # a GET between POSTs, on the same socket
        assert json.loads(conn.getresponse().read())["accepted"] == 21
        assert conn.sock.getsockname() == local  # never reconnected
    finally:
        conn.close()
    assert [a.status for a in answers] == [200] * 20
    assert all(a.getheader("Connection") != "close" for a in answers)


def test_a_stopped_fake_ends_kept_alive_connections(receiver: Receiver) -> None:
    config = FakeConfig(webhook_url=receiver.url, app_secret=SECRET, send_statuses=False)
    fake = FakeProvider(config, channels=[(PNID, TOKEN, DISPLAY)]).start()
    conn = http.client.HTTPConnection(fake.host, fake.port, timeout=5)
    try:
        assert _post_raw(conn, message()).status == 200
        fake.stop()
        with pytest.raises((ConnectionError, http.client.HTTPException)):
            _post_raw(conn, message())
    finally:
        conn.close()
        fake.stop()


def test_a_chunked_body_is_refused_and_the_connection_closed(fake: FakeProvider) -> None:
    conn = http.client.HTTPConnection(fake.host, fake.port, timeout=5)
    try:
        headers = {"Authorization": f"Bearer {TOKEN}", "Transfer-Encoding": "chunked"}
        conn.request("POST", f"/{API_VERSION}/{PNID}/messages", body=iter([b"{}"]),
                     headers=headers, encode_chunked=True)  # fmt: skip
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    assert response.status == 411
    assert response.getheader("Connection") == "close"


def test_cli_channel_parsing_and_help() -> None:
    assert parse_channel("1000001=tok") == ("1000001", "tok", "")
    assert parse_channel("1000001=tok=15550009999") == ("1000001", "tok", "15550009999")
    with pytest.raises(click.BadParameter) as excinfo:
        parse_channel("secret-token")
    assert "secret-token" not in str(excinfo.value)
    result = CliRunner().invoke(fake_provider, ["--help"])
    assert result.exit_code == 0
    assert "--timeout-rate" in result.output


def test_cli_serves_until_sigterm() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code = "from pipeline.cli.fake_provider import fake_provider; fake_provider()"
    args = ["--port", str(port), "--channel", f"{PNID}=cli-token", "--app-secret", "cli-secret"]
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    command = [sys.executable, "-c", code, *args]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env, cwd=root) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            expected = f"fake WhatsApp provider on http://127.0.0.1:{port} (webhooks -> "
            assert line.startswith(expected)
            assert "cli-token" not in line
            assert "cli-secret" not in line
            url = f"http://127.0.0.1:{port}/_fake/healthz"
            assert httpx.get(url, timeout=5.0, verify=VERIFY).json() == {"ok": True}
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=5) == 0
        finally:
            if proc.poll() is None:
                proc.kill()

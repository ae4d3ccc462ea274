"""End to end: GET /v1/events/stream on the real `wapipe api` (gunicorn, 2 workers x 4 threads)."""

import json
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from pipeline.bootstrap import Container
from pipeline.services import tenants
from tests.e2e.conftest import Stack
from tests.support import new_phone

pytestmark = pytest.mark.e2e


class Stream:
    """One SSE connection on a raw socket: what a browser's EventSource does."""

    def __init__(self, api_url: str, key: str, last_event_id: str | None = None) -> None:
        parts = urlsplit(api_url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
        resume = f"Last-Event-ID: {last_event_id}\r\n" if last_event_id else ""
        self.sock.sendall(
            f"GET /v1/events/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
            f"Accept: text/event-stream\r\n{resume}\r\n".encode()
        )
        self.buffer = b""
        self.head = self._read_until(b"\r\n\r\n")

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the stream closed")
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(marker)
        return head

    def events(self, count: int, timeout: float = 30) -> list[dict[str, Any]]:
        """The next ``count`` events (comments skipped)."""
        self.sock.settimeout(timeout)
        found: list[dict[str, Any]] = []
        while len(found) < count:
            block = self._read_until(b"\n\n").decode()
            fields = dict(
                line.split(": ", 1) for line in block.splitlines() if not line.startswith(":")
            )
            if fields:
                body = json.loads(fields["data"])
                assert fields["id"] == body["id"]
                assert fields["event"] == body["type"]
                found.append(body)
        return found

    def close(self) -> None:
        self.sock.close()


def _company(container: Container, stack: Stack) -> tuple[str, httpx.Client]:
    pnid, token = str(uuid.uuid4().int % 10**15), f"tok-{uuid.uuid4().hex}"
    new = tenants.create_company(container.db, "Stream Co", pnid, token)
    httpx.put(
        f"{stack.fake_url}/_fake/channels/{pnid}", json={"access_token": token}
    ).raise_for_status()
    client = httpx.Client(
        base_url=stack.api_url, headers={"Authorization": f"Bearer {new.api_key}"}, timeout=10
    )
    return new.api_key, client


@pytest.fixture
def companies(stack: Stack, container: Container) -> Iterator[list[tuple[str, httpx.Client]]]:
    made = [_company(container, stack) for _ in range(2)]
    yield made
    for _, client in made:
        client.close()


def _conversation_read(api: httpx.Client) -> str:
    conversation = api.post("/v1/conversations", json={"to": new_phone()}).json()
    assert api.post(f"/v1/conversations/{conversation['id']}/read").status_code == 200
    conversation_id: str = conversation["id"]
    return conversation_id


def test_the_stream_is_live_resumes_without_gaps_and_keeps_companies_apart(
    stack: Stack, companies: list[tuple[str, httpx.Client]]
) -> None:
    (key, api), (other_key, other_api) = companies
    stream, other = Stream(stack.api_url, key), Stream(stack.api_url, other_key)
    try:
        assert stream.head.startswith(b"HTTP/1.1 200")
        assert b"text/event-stream" in stream.head
        first = _conversation_read(api)
        [event] = stream.events(1)
        assert event["type"] == "conversation.updated"
        assert event["data"]["id"] == first
        stream.close()
        # While no stream is open: three more changes, then resume after the first.
        missed = [_conversation_read(api) for _ in range(3)]
        resumed = Stream(stack.api_url, key, last_event_id=event["id"])
        got = resumed.events(3)
        assert [e["data"]["id"] for e in got] == missed
        later = _conversation_read(api)
        assert resumed.events(1)[0]["data"]["id"] == later
        resumed.close()
        # Nothing of the first company reached the second's stream.
        mine = _conversation_read(other_api)
        assert [e["data"]["id"] for e in other.events(1)] == [mine]
    finally:
        other.close()


def test_two_hundred_open_streams_tie_up_no_thread_of_the_api(
    stack: Stack, companies: list[tuple[str, httpx.Client]]
) -> None:
    (key, api), _ = companies
    with httpx.Client(base_url=stack.api_url, timeout=10) as probe:
        before = _median_latency(probe)
        streams = [Stream(stack.api_url, key) for _ in range(200)]
        try:
            during = _median_latency(probe)
            # 2 gunicorn workers x 4 threads: were each stream to hold a thread, the 9th
            # request would wait for ever.
            assert during < max(0.25, before * 5), (before, during)
            conversation_id = _conversation_read(api)
            for stream in streams[::20]:
                assert stream.events(1)[0]["data"]["id"] == conversation_id
        finally:
            for stream in streams:
                stream.close()
    print(
        f"\n/healthz median: {before * 1000:.1f} ms idle, {during * 1000:.1f} ms with 200 streams"
    )


def _median_latency(client: httpx.Client, n: int = 21) -> float:
    timings = []
    for _ in range(n):
        started = time.perf_counter()
        assert client.get("/healthz").status_code == 200
        timings.append(time.perf_counter() - started)
    return sorted(timings)[n // 2]


def test_a_bad_key_or_event_id_gets_a_json_error_not_a_stream(
    stack: Stack, companies: list[tuple[str, httpx.Client]]
) -> None:
    (key, _), _ = companies
    with httpx.Client(base_url=stack.api_url, timeout=10) as http:
        answer = http.get("/v1/events/stream", headers={"Authorization": "Bearer nope"})
        assert answer.status_code == 401
        assert answer.json()["error"]["code"] == "UNAUTHORIZED"
        answer = http.get(
            "/v1/events/stream?last_event_id=bogus", headers={"Authorization": f"Bearer {key}"}
        )
        assert answer.status_code == 400
        assert answer.json()["error"]["code"] == "VALIDATION_ERROR"

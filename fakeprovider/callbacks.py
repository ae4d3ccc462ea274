"""Status webhooks: build them per accepted send, release them on time, POST them signed."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import heapq
import http.client
import itertools
import json
import logging
import queue
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import certifi

from fakeprovider.config import FakeConfig, status_error
from fakeprovider.latency import LatencyRecorder
from fakeprovider.poster import WebhookPoster
from fakeprovider.state import Channel, FakeState
from webhooks.signature import sign

log = logging.getLogger("wapipe.fakeprovider")

BATCH_WINDOW_S = 0.05
BATCH_MAX_STATUSES = 50
RETRY_FIRST_DELAY_S = 0.5
RETRY_MAX_DELAY_S = 8.0
# Meta retries for days; a minute is enough for a demo receiver to come back up.
RETRY_WINDOW_S = 60.0
POST_TIMEOUT_S = 5.0
UNDELIVERABLE = 131026


@dataclass(frozen=True)
class AcceptedSend:
    channel: Channel
    wamid: str
    recipient: str
    biz: str | None
    category: str
    accepted_at: float


@dataclass(frozen=True)
class _Status:
    channel: Channel
    payload: dict[str, Any]


@dataclass
class _Post:
    body: bytes
    statuses: int
    generation: int
    first_attempt: float = field(default_factory=time.monotonic)
    attempts: int = 0


def build_statuses(send: AcceptedSend, failed: bool, delay_s: float) -> list[dict[str, Any]]:
    """The statuses of one message in logical order, with non-decreasing timestamps."""
    names = ["sent", "failed"] if failed else ["sent", "delivered", "read"]
    statuses = []
    for step, name in enumerate(names, start=1):
        timestamp = str(int(send.accepted_at + step * delay_s))
        status: dict[str, Any] = {"id": send.wamid, "status": name, "timestamp": timestamp}
        status["recipient_id"] = send.recipient
        if send.biz is not None:
            status["biz_opaque_callback_data"] = send.biz
        if name == "sent":
            status["conversation"] = _conversation(send)
            status["pricing"] = {
                "billable": True,
                "pricing_model": "PMP",
                "category": send.category,
                "type": "regular",
            }
        elif name == "failed":
            status["errors"] = [status_error(UNDELIVERABLE)]
        statuses.append(status)
    return statuses


def _conversation(send: AcceptedSend) -> dict[str, Any]:
    # One conversation per (channel, recipient) pair, as Meta bills per 24 h conversation.
    key = f"{send.channel.phone_number_id}:{send.recipient}".encode()
    return {
        "id": hashlib.sha256(key).hexdigest()[:32],
        "expiration_timestamp": str(int(send.accepted_at) + 86400),
        "origin": {"type": send.category},
    }


def encode_body(statuses: list[_Status]) -> bytes:
    """One webhook body; statuses of different channels go into separate entries."""
    entries: dict[str, dict[str, Any]] = {}
    for item in statuses:
        ch = item.channel
        if ch.phone_number_id not in entries:
            metadata = {"display_phone_number": ch.label, "phone_number_id": ch.phone_number_id}
            value = {"messaging_product": "whatsapp", "metadata": metadata, "statuses": []}
            change = {"field": "messages", "value": value}
            entries[ch.phone_number_id] = {"id": ch.waba_id, "changes": [change]}
        entries[ch.phone_number_id]["changes"][0]["value"]["statuses"].append(item.payload)
    body = {"object": "whatsapp_business_account", "entry": list(entries.values())}
    return json.dumps(body, separators=(",", ":")).encode()


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # Loading CA certificates costs ~50 ms; share them so tests can start many fakes cheaply.
    return ssl.create_default_context(cafile=certifi.where())


class WebhookDispatcher:
    """A scheduler thread releases due statuses (heap + condition); sender threads POST them."""

    def __init__(self, state: FakeState, senders: int = 4) -> None:
        self._state = state
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Status | _Post]] = []
        self._seq = itertools.count()
        self._queue: queue.Queue[_Post | None] = queue.Queue()
        self._generation = 0
        self._stopped = False
        self._stats = {"posts": 0, "statuses": 0, "failures": 0, "dropped": 0}
        # Every POST's wall time, answered or not: how fast the receiver acknowledges webhooks.
        self.latency = LatencyRecorder()
        loops = [self._schedule_loop] + [self._send_loop] * senders
        self._threads = [threading.Thread(target=loop, daemon=True) for loop in loops]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        for _ in self._threads[1:]:
            self._queue.put(None)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            if thread.is_alive():
                thread.join(max(0.0, deadline - time.monotonic()))

    def clear(self) -> None:
        """Forget pending and in-flight webhooks; in-flight ones are dropped by generation."""
        with self._cond:
            self._heap.clear()
            self._generation += 1
            # Senders race us for the queue, so drain until Empty rather than checking empty().
            with contextlib.suppress(queue.Empty):
                while not self._stopped:
                    self._queue.get_nowait()

    def stats(self) -> dict[str, int]:
        with self._cond:
            return {**self._stats, "pending": len(self._heap) + self._queue.qsize()}

    def schedule_send(self, send: AcceptedSend, config: FakeConfig) -> None:
        delay = config.status_delay_ms / 1000.0
        failed = config.fail_rate > 0 and self._state.random() < config.fail_rate
        statuses = build_statuses(send, failed, delay)
        offsets = [delay * step for step in range(1, len(statuses) + 1)]
        if config.reorder:
            statuses = self._state.shuffled(statuses)
            offsets = sorted(self._state.uniform(delay * 0.5, delay * 3) for _ in statuses)
        due = time.monotonic()
        items = list(zip(offsets, statuses, strict=True))
        if config.duplicate_rate > 0:
            for offset, status in list(items):
                if self._state.random() < config.duplicate_rate:
                    items.append((offset + self._state.uniform(0.001, delay + 0.001), status))
        with self._cond:
            for offset, status in items:
                entry = (due + offset, next(self._seq), _Status(send.channel, status))
                heapq.heappush(self._heap, entry)
            self._cond.notify()

    def _schedule_loop(self) -> None:
        with self._cond:
            while not self._stopped:
                now = time.monotonic()
                if not self._heap or self._heap[0][0] > now:
                    self._cond.wait(self._heap[0][0] - now if self._heap else None)
                    continue
                item = heapq.heappop(self._heap)[2]
                if isinstance(item, _Post):
                    self._queue.put(item)
                    continue
                batch = [item]
                if self._state.config().batch:
                    horizon = now + BATCH_WINDOW_S
                    while self._heap and len(batch) < BATCH_MAX_STATUSES:
                        due, _, nxt = self._heap[0]
                        if due > horizon or not isinstance(nxt, _Status):
                            break
                        heapq.heappop(self._heap)
                        batch.append(nxt)
                self._queue.put(_Post(encode_body(batch), len(batch), self._generation))

    def _send_loop(self) -> None:
        poster = WebhookPoster(POST_TIMEOUT_S, _ssl_context)
        try:
            while (post := self._queue.get()) is not None:
                config = self._state.config()
                if post.generation == self._generation and config.webhook_url:
                    self._post(poster, post, config)
        finally:
            poster.close()

    def _post(self, poster: WebhookPoster, post: _Post, config: FakeConfig) -> None:
        headers = {
            "Content-Type": "application/json",
            "X-Hub-Signature-256": sign(config.app_secret, post.body),
        }
        started = time.perf_counter()
        try:
            status = poster.post(config.webhook_url, post.body, headers)
            reason = "" if 200 <= status < 300 else f"HTTP {status}"
        except (OSError, ValueError, http.client.HTTPException) as exc:  # ValueError: a bad URL
            reason = type(exc).__name__
        if post.generation == self._generation:  # a POST begun before a reset is not counted
            self.latency.record((time.perf_counter() - started) * 1000.0)
        self._finish(post, config.webhook_url, reason)

    def _finish(self, post: _Post, url: str, reason: str) -> None:
        with self._cond:
            if not reason:
                self._stats["posts"] += 1
                self._stats["statuses"] += post.statuses
                return
            self._stats["failures"] += 1
            if self._stopped or post.generation != self._generation:
                return
            post.attempts += 1
            delay = min(RETRY_FIRST_DELAY_S * 2 ** (post.attempts - 1), RETRY_MAX_DELAY_S)
            now = time.monotonic()
            if now + delay - post.first_attempt > RETRY_WINDOW_S:
                self._stats["dropped"] += 1
                log.warning("webhook POST to %s failed (%s); giving up", url, reason)
                return
            heapq.heappush(self._heap, (now + delay, next(self._seq), post))
            self._cond.notify()
        log.warning(
            "webhook POST to %s failed (%s), attempt %d; retrying in %.1fs",
            url,
            reason,
            post.attempts,
            delay,
        )

"""Thread-safe state of the fake provider: config, channels, injected-error rules, counters."""

from __future__ import annotations

import base64
import random
import secrets
import threading
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fakeprovider.config import FakeConfig
from fakeprovider.content import ContentState


def new_wamid(recipient: str) -> str:
    # Shaped like Meta's (base64 of recipient + random id); no padding so it is URL-safe as is.
    raw = b"\x15\x02\x00\x11\x18" + recipient.encode() + b"\x15" + secrets.token_bytes(16)
    return "wamid." + base64.urlsafe_b64encode(raw).decode().rstrip("=")


@dataclass(frozen=True)
class Channel:
    phone_number_id: str
    access_token: str = field(repr=False)
    display_phone_number: str
    waba_id: str

    @property
    def label(self) -> str:
        return self.display_phone_number or self.phone_number_id


@dataclass
class Rule:
    to: str | None
    code: int
    times: int


@dataclass(frozen=True)
class Arrival:
    """A send request that reached a channel: when (epoch seconds), to whom, and the error
    code it was answered with (None: accepted)."""

    at: float
    to: str
    code: int | None


@dataclass
class _CallbackSends:
    wamids: list[str] = field(default_factory=list)
    bodies: list[Any] = field(default_factory=list)
    order: list[int] = field(default_factory=list)


class FakeState:
    """Everything the request threads share; one lock guards it all (sends are cheap)."""

    def __init__(self, config: FakeConfig | None = None, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._config = (config or FakeConfig()).copy()
        self._channels: dict[str, Channel] = {}
        self._rules: list[Rule] = []
        self._random = random.Random(seed)
        # Template catalogues, uploaded media and the customers' windows.
        self.content = ContentState()
        self._reset_counters()

    def _reset_counters(self) -> None:
        self._requests = 0
        self._accepted = 0
        self._by_callback: dict[str, _CallbackSends] = defaultdict(_CallbackSends)
        self._by_recipient: dict[str, list[str | None]] = defaultdict(list)
        self._arrivals: dict[str, list[Arrival]] = defaultdict(list)

    # -- config -----------------------------------------------------------------------------
    def config(self) -> FakeConfig:
        """A snapshot: a request sees one consistent set of switches even if PATCHed meanwhile."""
        with self._lock:
            return self._config.copy()

    def patch_config(self, patch: Mapping[str, Any]) -> FakeConfig:
        with self._lock:
            self._config = self._config.patched(patch)
            return self._config.copy()

    def random(self) -> float:
        with self._lock:
            return self._random.random()

    def choice(self, options: list[int]) -> int:
        with self._lock:
            return self._random.choice(options)

    def uniform(self, low: float, high: float) -> float:
        with self._lock:
            return self._random.uniform(low, high)

    def shuffled(self, items: list[Any]) -> list[Any]:
        copy = list(items)
        with self._lock:
            self._random.shuffle(copy)
        return copy

    # -- channels ---------------------------------------------------------------------------
    def put_channel(
        self,
        phone_number_id: str,
        access_token: str,
        display_phone_number: str = "",
        waba_id: str = "",
    ) -> Channel:
        channel = Channel(
            phone_number_id=phone_number_id,
            access_token=access_token,
            display_phone_number=display_phone_number,
            # Real WABA ids differ per business; reusing the number id keeps entries distinct.
            waba_id=waba_id or phone_number_id,
        )
        with self._lock:
            self._channels[phone_number_id] = channel
        return channel

    def channel(self, phone_number_id: str) -> Channel | None:
        with self._lock:
            return self._channels.get(phone_number_id)

    def channels_of(self, waba_id: str) -> list[Channel]:
        with self._lock:
            return [c for c in self._channels.values() if c.waba_id == waba_id]

    def channel_ids(self) -> list[str]:
        with self._lock:
            return sorted(self._channels)

    # -- rules ------------------------------------------------------------------------------
    def add_rule(self, to: str | None, code: int, times: int) -> None:
        with self._lock:
            self._rules.append(Rule(to=to, code=code, times=times))

    def clear_rules(self) -> None:
        with self._lock:
            self._rules.clear()

    def take_rule(self, to: str) -> int | None:
        """Consume one use of the first rule matching ``to`` and return its error code."""
        with self._lock:
            for rule in self._rules:
                if rule.to is None or rule.to == to:
                    rule.times -= 1
                    if rule.times <= 0:
                        self._rules.remove(rule)
                    return rule.code
        return None

    def rules(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{"to": r.to, "code": r.code, "times": r.times} for r in self._rules]

    # -- counters ---------------------------------------------------------------------------
    def count_request(self) -> None:
        with self._lock:
            self._requests += 1

    def record_accept(self, to: str, biz: str | None, body: Any) -> str:
        """Count an accepted send and return its new wamid."""
        wamid = new_wamid(to)
        with self._lock:
            self._accepted += 1
            self._by_recipient[to].append(biz)
            if biz is not None:
                sends = self._by_callback[biz]
                sends.wamids.append(wamid)
                sends.bodies.append(body)
                sends.order.append(self._accepted)
        return wamid

    def record_arrival(self, phone_number_id: str, arrival: Arrival) -> None:
        """Note a send request that reached a channel (what a rate limit counts)."""
        with self._lock:
            self._arrivals[phone_number_id].append(arrival)

    def arrivals(self, phone_number_id: str) -> list[Arrival]:
        """The channel's send requests in the order they arrived."""
        with self._lock:
            return list(self._arrivals.get(phone_number_id, []))

    def summary(self) -> dict[str, Any]:
        with self._lock:
            return {
                "accepted": self._accepted,
                "requests": self._requests,
                "by_callback": {k: len(v.wamids) for k, v in self._by_callback.items()},
            }

    def sends_for(self, biz: str) -> dict[str, Any]:
        with self._lock:
            sends = self._by_callback.get(biz, _CallbackSends())
            return {
                "count": len(sends.wamids),
                "wamids": list(sends.wamids),
                "bodies": list(sends.bodies),
                "order": list(sends.order),
            }

    def recipient_callbacks(self, to: str) -> list[str | None]:
        with self._lock:
            return list(self._by_recipient.get(to, []))

    def reset(self) -> None:
        """Clear counters and rules; channels and config survive so a running demo keeps going."""
        with self._lock:
            self._rules.clear()
            self._reset_counters()

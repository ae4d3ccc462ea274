"""Run the fake provider: in a background thread (tests, demos) or blocking (the CLI)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterable
from types import FrameType, TracebackType
from typing import Self

from fakeprovider.app import create_app
from fakeprovider.callbacks import WebhookDispatcher
from fakeprovider.config import FakeConfig
from fakeprovider.http11 import KeepAliveWSGIServer
from fakeprovider.state import FakeState

# (phone_number_id, access_token, display_phone_number)
ChannelSpec = tuple[str, str, str]
API_VERSION = "v21.0"


class FakeProvider:
    """A real HTTP server on ``host:port`` (port 0 picks a free one) in a background thread."""

    def __init__(
        self,
        config: FakeConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        channels: Iterable[ChannelSpec] = (),
        seed: int | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.state = FakeState(config, seed=seed)
        for phone_number_id, token, display in channels:
            self.state.put_channel(phone_number_id, token, display)
        self.dispatcher = WebhookDispatcher(self.state)
        self._stopping = threading.Event()
        self.app = create_app(self.state, self.dispatcher, self._stopping)
        self._server: KeepAliveWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def add_channel(self, phone_number_id: str, access_token: str, display: str = "") -> None:
        self.state.put_channel(phone_number_id, access_token, display)

    @property
    def url(self) -> str:
        """Root URL, e.g. ``http://127.0.0.1:8090``."""
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        """The base URL to hand to a Cloud API client, e.g. ``http://127.0.0.1:8090/v21.0``."""
        return f"{self.url}/{API_VERSION}"

    def start(self) -> Self:
        if self._server is not None:
            raise RuntimeError("fake provider already started")
        server = KeepAliveWSGIServer(self.host, self.port, self.app)
        self.port = server.server_port
        self._server = server
        self.dispatcher.start()
        # A short poll interval keeps stop() prompt; the cost is a cheap select() per 50 ms.
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.dispatcher.stop()
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve(
    config: FakeConfig,
    host: str = "127.0.0.1",
    port: int = 8090,
    channels: Iterable[ChannelSpec] = (),
    on_ready: Callable[[FakeProvider], None] | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM (must run in the main thread, where signals arrive)."""
    done = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    provider = FakeProvider(config, host, port, channels)
    try:
        provider.start()
        if on_ready is not None:
            on_ready(provider)
        while not done.wait(0.5):
            pass
    finally:
        provider.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)

"""Real processes for e2e tests: started with the project's own commands, stopped for sure."""

import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from pipeline.config import Settings
from tests.conftest import APP_SECRET, VERIFY_TOKEN
from tests.support import free_port, wait_for

WAPIPE = [sys.executable, "-m", "pipeline.cli.main"]


@dataclass
class Process:
    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> "Process":
        with self.log_path.open("ab") as log:  # the child keeps its own descriptor
            self.popen = subprocess.Popen(
                self.argv,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def signal(self, sig: int) -> None:
        if self.popen is not None and self.popen.poll() is None:
            os.killpg(self.popen.pid, sig)

    def stop(self, timeout: float = 15) -> None:
        if self.popen is None:
            return
        if self.popen.poll() is None:
            # The leader alone: gunicorn and dramatiq stop their children gracefully, and a
            # second SIGTERM straight to a dramatiq child would make it kill itself at once.
            self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.popen.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


def wait_http_ok(url: str, process: Process, timeout: float = 30) -> None:
    def ready() -> bool:
        assert process.popen is not None
        if process.popen.poll() is not None:
            raise AssertionError(f"{process.name} exited early:\n{process.log()}")
        try:
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(ready, timeout=timeout, interval=0.1, what=f"{process.name} at {url}")


@contextmanager
def running(*processes: Process) -> Iterator[None]:
    try:
        for process in processes:
            process.start()
        yield
    finally:
        # All at once (each SIGTERM to its leader, then a wait): one after the other took
        # seconds per process.
        stopping = [threading.Thread(target=p.stop) for p in processes]
        for thread in stopping:
            thread.start()
        for thread in stopping:
            thread.join()
        for process in processes:
            if process.popen is not None and process.popen.returncode not in (0, -15, 143):
                print(f"--- {process.name} exited {process.popen.returncode}:\n{process.log()}")


@dataclass(frozen=True)
class Stack:
    api_url: str
    fake_url: str
    # The processes' environment, so a test can run `wapipe` commands against the same stack.
    env: dict[str, str] = field(default_factory=dict, repr=False)
    # Where every process writes its stdout and stderr (a test searches them for secrets).
    logs: Path | None = field(default=None, repr=False)
    # The worker group's /metrics and /healthz.
    worker_metrics_url: str = ""
    # The processes by name: fake-provider, api, worker (a test may take one down).
    processes: dict[str, Process] = field(default_factory=dict, repr=False)


@contextmanager
def pipeline_stack(settings: Settings, logs: Path, **env: str) -> Iterator[Stack]:
    """The fake provider, the API (2 workers x 4 threads) and a worker (1 x 4) as processes
    on the test database, with their own queues; ``env`` adds or overrides settings."""
    api_port, fake_port, metrics_port = free_port(), free_port(), free_port()
    api_url, fake_url = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{fake_port}"
    full_env = stack_env(
        {
            "DATABASE_URL": settings.database_url,
            "REDIS_URL": settings.redis_url,
            "WHATSAPP_API_BASE_URL": f"{fake_url}/v21.0",
            "WHATSAPP_APP_SECRET": APP_SECRET,
            "WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
            # Its own queues: the in-process test worker must not take these jobs.
            "WAPIPE_QUEUE_NAMESPACE": f"wapipe-stack-{uuid.uuid4().hex[:8]}",
            "WAPIPE_RETRY_MIN_BACKOFF_MS": "200",
            "WAPIPE_RETRY_MAX_BACKOFF_MS": "1000",
            "WAPIPE_MAX_ATTEMPTS": "4",
            "WAPIPE_METRICS_PORT": str(metrics_port),
            "WAPIPE_LOG_FORMAT": "json",
            **env,
        }
    )
    fake = Process(
        "fake-provider",
        [*WAPIPE, "fake-provider", "--port", str(fake_port), "--status-delay-ms", "50",
         "--webhook-url", f"{api_url}/webhooks/whatsapp"],
        full_env,
        logs / "fake.log",
    )  # fmt: skip
    api = Process(
        "api",
        [*WAPIPE, "api", "--port", str(api_port), "--workers", "2", "--threads", "4"],
        full_env,
        logs / "api.log",
    )
    worker = Process(
        "worker",
        [*WAPIPE, "worker", "--processes", "1", "--threads", "4"],
        full_env,
        logs / "worker.log",
    )
    with running(fake, api, worker):
        wait_http_ok(f"{fake_url}/_fake/healthz", fake)
        wait_http_ok(f"{api_url}/readyz", api)
        metrics_url = f"http://127.0.0.1:{metrics_port}"
        processes = {p.name: p for p in (fake, api, worker)}
        yield Stack(api_url, fake_url, full_env, logs, metrics_url, processes)


def stack_env(settings_env: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(settings_env)
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Supervisor:
    """Restarts processes that exit, as systemd's Restart=always would."""

    def __init__(self, *processes: Process, interval: float = 0.2) -> None:
        self.processes = processes
        self.restarts = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, args=(interval,), daemon=True)

    def __enter__(self) -> "Supervisor":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)

    def _watch(self, interval: float) -> None:
        while not self._stopping.wait(interval):
            for process in self.processes:
                if process.popen is not None and process.popen.poll() is not None:
                    if self._stopping.is_set():
                        return
                    process.start()
                    self.restarts += 1

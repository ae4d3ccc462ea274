"""Real processes for e2e tests: started with the project's own commands, stopped for sure."""

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support import wait_for

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
        for process in reversed(processes):
            process.stop()
        for process in processes:
            if process.popen is not None and process.popen.returncode not in (0, -15, 143):
                print(f"--- {process.name} exited {process.popen.returncode}:\n{process.log()}")


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

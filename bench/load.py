"""The load generator: wrk with bench/wrk/messages.lua, one new phone per request."""

import json
import shutil
import signal
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from bench.probes import BenchError

SCRIPT = Path(__file__).with_name("wrk") / "messages.lua"
# US numbers +1 650 200 0000 to +1 650 999 9999 are all valid for phonenumbers (wapipe
# rejects invalid ones); each wrk run takes a block of its own so every message is a new contact.
FIRST_PHONE = 16502000000
PHONE_BLOCK = 750_000
PHONE_BLOCKS = 10
# Beyond the blocks: the warm-up messages that prove a stack works before it is timed.
WARM_UP_PHONE = FIRST_PHONE + PHONE_BLOCK * PHONE_BLOCKS + 1
# wrk's default (2 s) would count a slow pipeline's answers as errors instead of timing them.
REQUEST_TIMEOUT = "30s"


@dataclass(frozen=True)
class Target:
    """Where and how to post: the Authorization header (wapipe) or a company_id (naive)."""

    url: str
    auth: str = "-"
    company: str = "-"


@dataclass(frozen=True)
class Shape:
    connections: int = 16
    threads: int = 2


@dataclass(frozen=True)
class Run:
    """``seconds`` of load; ``share`` > 0 stops each thread after that many requests;
    ``rate`` > 0 paces all threads together at that many requests per second."""

    seconds: float
    share: int = 0
    rate: float = 0.0


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    accepted: int
    refused: int
    errors: dict[str, int]
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def error_count(self) -> int:
        # wrk's "status" errors are our refusals, already counted from each response.
        socket_errors = sum(n for kind, n in self.errors.items() if kind != "status")
        return self.refused + socket_errors

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "rate": round(self.rate, 1), "error_count": self.error_count}


class PhoneBlocks:
    """Hands each run a block of phones nobody else posted to in this benchmark."""

    def __init__(self) -> None:
        self._next = 0

    def take(self) -> int:
        if self._next >= PHONE_BLOCKS:
            raise BenchError("out of phone blocks: too many runs in one benchmark")
        first = FIRST_PHONE + self._next * PHONE_BLOCK
        self._next += 1
        return first


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise BenchError(
            "wrk is not installed: `make bench` installs it (apt-get install -y wrk), "
            "or install the Debian package wrk yourself"
        )
    return path


class WrkRun:
    """One wrk process; ``share`` > 0 posts exactly that many per thread, then waits to be
    interrupted (wrk waits out -d even when its threads stopped early)."""

    def __init__(self, target: Target, shape: Shape, run: Run, first_phone: int, log: Path) -> None:
        stride = PHONE_BLOCK // shape.threads
        if run.share > stride:
            raise BenchError(f"{run.share} requests per thread exceed a phone block ({stride})")
        self.threads = shape.threads if run.share else 0
        argv = [require_wrk(), "-t", str(shape.threads), "-c", str(shape.connections),
                "-d", f"{int(run.seconds)}s", "--timeout", REQUEST_TIMEOUT, "-s", str(SCRIPT),
                target.url, "--", target.auth, target.company, str(first_phone), str(stride),
                str(run.share), f"{run.rate / shape.threads:.3f}"]  # fmt: skip
        self._threads_done = 0  # written by the reader thread only
        self._summary: dict[str, Any] | None = None
        with log.open("ab") as err:
            self._popen = subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=err, text=True, start_new_session=True
            )
        assert self._popen.stdout is not None
        self._reader = threading.Thread(target=self._read, args=(self._popen.stdout,))
        self._reader.start()

    def _read(self, stdout: IO[str]) -> None:
        for line in stdout:
            if line.startswith("thread-done"):
                self._threads_done += 1
            elif line.startswith("wrk-summary "):
                self._summary = json.loads(line.removeprefix("wrk-summary "))

    def all_threads_done(self) -> bool:
        """True once every thread's share was answered."""
        return self._threads_done >= self.threads

    def interrupt(self) -> None:
        if self._popen.poll() is None:
            self._popen.send_signal(signal.SIGINT)

    def finished(self) -> bool:
        return self._popen.poll() is not None

    def result(self, timeout: float = 60) -> WrkResult:
        self._popen.wait(timeout=timeout)
        self._reader.join(timeout=5)
        if self._popen.returncode != 0 or self._summary is None:
            raise BenchError(f"wrk exited {self._popen.returncode} without its summary")
        return _parse(self._summary)

    def kill(self) -> None:
        if self._popen.poll() is None:
            self._popen.kill()
            self._popen.wait()
        self._reader.join(timeout=5)


def run_wrk(target: Target, shape: Shape, run: Run, first_phone: int, log: Path) -> WrkResult:
    """A timed run (``share`` unused), waited for to its end."""
    wrk = WrkRun(target, shape, run, first_phone, log)
    try:
        return wrk.result(timeout=run.seconds + 60)
    finally:
        wrk.kill()


def _parse(summary: dict[str, Any]) -> WrkResult:
    latency = {key: value / 1000.0 for key, value in summary["latency_us"].items()}
    return WrkResult(
        requests=int(summary["requests"]),
        seconds=summary["duration_us"] / 1e6,
        accepted=int(summary["accepted"]),
        refused=int(summary["refused"]),
        errors={key: int(value) for key, value in summary["errors"].items()},
        p50_ms=latency["p50"],
        p90_ms=latency["p90"],
        p99_ms=latency["p99"],
        mean_ms=latency["mean"],
        max_ms=latency["max"],
    )

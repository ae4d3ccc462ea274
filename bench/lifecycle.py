"""One pipeline's whole lifecycle under load: first POST to every message `read`."""

import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench import cpu
from bench.load import WARM_UP_PHONE, Run, Shape, WrkResult, WrkRun
from bench.probes import BenchError, RowCounter, rss_bytes, tree_pids
from bench.stacks import READ_SQL, Stack
from tests.support import wait_for

# Counting `read` rows reads the whole table: every 0.2 s it cost PostgreSQL 7 % of a core
# at 30,000 messages (no autovacuum here), load the pipeline under test should not carry.
# The interval grows with the run, keeping the timing error under about 1 %.
POLL_S = 0.2
SAMPLE_S = 0.5
# wrk's -d for a run that stops itself after its share: only a bound, never reached.
OPEN_ENDED_S = 3600


@dataclass(frozen=True)
class Sample:
    seconds: float
    read: int
    api_rss: int
    worker_rss: int


@dataclass
class Lifecycle:
    messages: int
    seconds: float
    posting: WrkResult
    webhook_latency: dict[str, Any]
    fake_webhooks: dict[str, Any]
    cpu_seconds: dict[str, float]
    samples: list[Sample] = field(repr=False)

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    def cores(self, *users: str) -> float:
        """How many cores ``users`` (keys of cpu_seconds) kept busy on average."""
        return sum(self.cpu_seconds.get(user, 0.0) for user in users) / self.seconds

    def rss(self, group: str) -> dict[str, int]:
        values = [getattr(s, f"{group}_rss") for s in self.samples]
        return {"peak": max(values), "final": values[-1]}

    def worker_rss_at(self, fraction: float) -> int:
        """The worker's RSS at the first sample with that fraction of the messages read."""
        reached = [s for s in self.samples if s.read >= fraction * self.messages]
        return (reached[0] if reached else self.samples[-1]).worker_rss

    def to_dict(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "seconds": round(self.seconds, 2),
            "rate": round(self.rate, 1),
            "posting": self.posting.to_dict(),
            "webhook_latency": self.webhook_latency,
            "fake_webhooks": self.fake_webhooks,
            "cpu_seconds": self.cpu_seconds,
            "rss": {"api": self.rss("api"), "worker": self.rss("worker")},
            "samples": [s.__dict__ for s in self.samples],
        }


def warm_up(stack: Stack) -> None:
    """One message through the whole chain, so the timed run starts with every process up."""
    stack.wait_api()
    accepted = wait_for(
        lambda: _try_post(stack), timeout=30, interval=0.2, what=f"{stack.name} to accept"
    )
    if accepted.status_code != 202:
        raise BenchError(f"{stack.name} refused the warm-up: {accepted.status_code}")
    counter = RowCounter(stack.dsn, READ_SQL)
    try:
        wait_for(counter, timeout=60, interval=0.2, what=f"{stack.name}'s warm-up to be read")
    finally:
        counter.close()
    httpx.post(f"{stack.fake_url}/_fake/reset", timeout=5).raise_for_status()


def _try_post(stack: Stack) -> httpx.Response | None:
    try:
        return stack.post(f"+{WARM_UP_PHONE}")
    except httpx.TransportError:  # not listening yet
        return None


def run_lifecycle(
    stack: Stack, shape: Shape, messages: int, first_phone: int, stall_s: float
) -> Lifecycle:
    counter = RowCounter(stack.dsn, READ_SQL)
    already_read = counter()
    cpu_before = cpu.snapshot()
    started = time.perf_counter()
    run = Run(seconds=OPEN_ENDED_S, share=messages // shape.threads)
    log = stack.api.log_path.with_name(f"{stack.name}-lifecycle-wrk.log")
    wrk = WrkRun(stack.target, shape, run, first_phone, log)
    try:
        poll_s = POLL_S * max(1.0, messages / 3000)
        watch = _Watch(stack, counter, already_read, started, stall_s, poll_s)
        posting, seconds = watch.until_all_read(wrk)
    finally:
        wrk.kill()
        counter.close()
    return Lifecycle(
        messages=posting.accepted,
        seconds=seconds,
        posting=posting,
        webhook_latency=_fake_get(stack, "/_fake/webhook-latency"),
        fake_webhooks=_fake_get(stack, "/_fake/webhooks"),
        cpu_seconds=cpu.split(cpu_before, cpu.snapshot(), _trees(stack)),
        samples=watch.samples,
    )


class _Watch:
    """Polls the read count (every ``poll_s``) and the memory (every 0.5 s) until all are
    read."""

    def __init__(
        self,
        stack: Stack,
        counter: RowCounter,
        base: int,
        started: float,
        stall_s: float,
        poll_s: float,
    ) -> None:
        self.stack, self.counter, self.base, self.started = stack, counter, base, started
        self.stall_s, self.poll_s = stall_s, poll_s
        self.samples: list[Sample] = []
        self._progress = (0, started)  # (read, when it last grew)

    def until_all_read(self, wrk: WrkRun) -> tuple[WrkResult, float]:
        posting: WrkResult | None = None
        while True:
            read = self.counter() - self.base
            now = time.perf_counter()
            self._sample(read, now)
            if posting is None and wrk.all_threads_done():
                wrk.interrupt()  # every share answered: wrk would otherwise wait out its -d
            if posting is None and wrk.finished():
                posting = wrk.result()
            if posting is not None and read >= posting.accepted:
                self._sample(read, now, force=True)
                return posting, now - self.started
            self._check_stall(read, now, wrk, posting)
            time.sleep(self.poll_s)

    def _sample(self, read: int, now: float, force: bool = False) -> None:
        elapsed = now - self.started
        if force or not self.samples or elapsed - self.samples[-1].seconds >= SAMPLE_S:
            assert self.stack.api.popen is not None
            assert self.stack.worker.popen is not None
            api, worker = self.stack.api.popen.pid, self.stack.worker.popen.pid
            self.samples.append(Sample(elapsed, read, rss_bytes(api), rss_bytes(worker)))

    def _check_stall(self, read: int, now: float, wrk: WrkRun, posting: WrkResult | None) -> None:
        if read > self._progress[0]:
            self._progress = (read, now)
            return
        if now - self._progress[1] < self.stall_s:
            return
        if posting is None:  # a thread never got its share answered (a lost connection)
            wrk.interrupt()
            self._progress = (read, now)
            return
        raise BenchError(
            f"{self.stack.name}: no message read for {self.stall_s:.0f}s; {read} of "
            f"{posting.accepted} read; by status {self.counter.by_status()}; "
            f"logs in {self.stack.api.log_path.parent}"
        )


def _trees(stack: Stack) -> dict[str, list[int]]:
    processes = {"api": stack.api, "worker": stack.worker, "fake": stack.fake}
    return {k: tree_pids(p.popen.pid) for k, p in processes.items() if p.popen is not None}


def _fake_get(stack: Stack, path: str) -> dict[str, Any]:
    response = httpx.get(stack.fake_url + path, timeout=5)
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data

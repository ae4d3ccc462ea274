"""The whole pipeline as real processes, a load, and the checks of each promise."""

import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from db.session import Database, make_engine
from pipeline.services import tenants
from tests.conftest import APP_SECRET, VERIFY_TOKEN
from tests.e2e.processes import WAPIPE, Process, Supervisor, running, stack_env, wait_http_ok
from tests.support import free_port, wait_for

OUTCOMES = ("sent", "delivered", "read", "failed")


@dataclass
class ChaosStack:
    api_url: str
    fake_url: str
    api: Process
    worker: Process
    api_key: str
    company_id: uuid.UUID
    database_url: str
    # Every `wapipe worker` (each a group of processes, as on separate hosts); `worker` first.
    workers: list[Process] = field(default_factory=list)


@dataclass
class Load:
    """Messages the intake answered 202 for, in the order each phone's were accepted."""

    accepted: list[str] = field(default_factory=list)
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextmanager
def chaos_stack(
    logs: Path,
    database_url: str,
    redis_url: str,
    api_faults: str = "",
    worker_faults: str = "",
    fake_args: tuple[str, ...] = (),
    env: dict[str, str | None] | None = None,
    worker_groups: int = 1,
) -> Iterator[ChaosStack]:
    """Only what the README's Quickstart starts: the API and the worker (no sweeper: the
    workers' leader does its work), plus the fake provider. ``env`` overrides settings (None:
    the default)."""
    api_port, fake_port = free_port(), free_port()
    api_url, fake_url = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{fake_port}"
    defaults: dict[str, str | None] = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "WHATSAPP_API_BASE_URL": f"{fake_url}/v21.0",
        "WHATSAPP_APP_SECRET": APP_SECRET,
        "WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
        "WAPIPE_QUEUE_NAMESPACE": f"wapipe-chaos-{uuid.uuid4().hex[:8]}",
        # Short enough to recover within a test, each a setting an operator can tune.
        "WAPIPE_LEASE_SECONDS": "6",
        "WAPIPE_HTTP_TIMEOUT_SECONDS": "2",
        "WAPIPE_AMBIGUOUS_WAIT_MS": "3000",
        "WAPIPE_BROKER_HEARTBEAT_MS": "5000",
        "WAPIPE_SWEEP_GRACE_SECONDS": "3",
        "WAPIPE_RETRY_MIN_BACKOFF_MS": "200",
        "WAPIPE_RETRY_MAX_BACKOFF_MS": "2000",
        "WAPIPE_MAX_ATTEMPTS": "30",
    }
    base = {k: v for k, v in (defaults | (env or {})).items() if v is not None}
    pnid, token = str(uuid.uuid4().int % 10**15), f"tok-{uuid.uuid4().hex}"
    database = Database(make_engine(database_url, pool_size=1))
    new = tenants.create_company(database, "Chaos Co", pnid, token)
    database.dispose()
    fake = Process(
        "fake-provider",
        [*WAPIPE, "fake-provider", "--port", str(fake_port), "--status-delay-ms", "100",
         "--webhook-url", f"{api_url}/webhooks/whatsapp", "--channel", f"{pnid}={token}",
         *fake_args],
        stack_env(base),
        logs / "fake.log",
    )  # fmt: skip
    api = Process(
        "api",
        [*WAPIPE, "api", "--port", str(api_port), "--workers", "2", "--threads", "8"],
        stack_env(base | {"WAPIPE_FAULTS": api_faults}),
        logs / "api.log",
    )
    workers = [
        Process(
            f"worker-{n}" if n else "worker",
            [*WAPIPE, "worker", "--processes", "2", "--threads", "4"],
            stack_env(base | {"WAPIPE_FAULTS": worker_faults}),
            logs / (f"worker-{n}.log" if n else "worker.log"),
        )
        for n in range(worker_groups)
    ]
    with running(fake, api, *workers), Supervisor(api, *workers):
        wait_http_ok(f"{fake_url}/_fake/healthz", fake)
        wait_http_ok(f"{api_url}/readyz", api)
        yield ChaosStack(
            api_url, fake_url, api, workers[0], new.api_key, new.company_id, database_url, workers
        )


def send_load(
    stack: ChaosStack, phones: int, per_phone: int, threads: int = 8, give_up_after: float = 90
) -> Load:
    """Post phones x per_phone messages from several threads, as a careful client would: each
    message with its own Idempotency-Key, retried with that key after a dropped connection or
    a 5xx until it is accepted. Each contact's messages are sent one after the other."""
    load = Load()
    numbers = [f"+1650555{i:04d}" for i in range(phones)]
    headers = {"Authorization": f"Bearer {stack.api_key}"}
    deadline = time.monotonic() + give_up_after

    def post(number: str) -> None:
        with httpx.Client(base_url=stack.api_url, headers=headers, timeout=10) as http:
            for n in range(per_phone):
                key = {"Idempotency-Key": uuid.uuid4().hex}
                while time.monotonic() < deadline:
                    try:
                        response = http.post(
                            "/v1/messages", json={"to": number, "text": f"m{n}"}, headers=key
                        )
                    except httpx.HTTPError:
                        response = None  # the API process died mid-request
                    if response is not None and response.status_code == 202:
                        with load.lock:
                            load.accepted.append(response.json()["id"])
                        break
                    with load.lock:
                        load.refused += 1
                    time.sleep(0.1)  # a client's pause before retrying, not synchronisation

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(post, numbers))
    return load


@dataclass(frozen=True)
class Verdict:
    accepted: int
    lost: int
    sent_twice: int
    counted_ambiguous: int
    uncounted_doubles: int
    out_of_order: int
    recovery_seconds: float

    def line(self, name: str) -> str:
        return (
            f"{name}: accepted={self.accepted} lost={self.lost} sent_twice={self.sent_twice} "
            f"(counted ambiguous resends={self.counted_ambiguous}, uncounted="
            f"{self.uncounted_doubles}) out_of_order={self.out_of_order} "
            f"recovered_in={self.recovery_seconds:.1f}s"
        )


@dataclass(frozen=True)
class Row:
    status: str
    ambiguous_resends: int
    conversation_id: uuid.UUID
    seq: int
    error_code: str | None
    to_phone: str


def _rows(database_url: str, ids: list[str]) -> dict[str, Row]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            result = conn.execute(
                text(
                    "SELECT id, status, ambiguous_resends, conversation_id, seq, error_code, "
                    "to_phone FROM messages WHERE id = ANY(:ids)"
                ),
                {"ids": [uuid.UUID(i) for i in ids]},
            ).all()
    finally:
        engine.dispose()
    return {str(r.id): Row(*r[1:]) for r in result}


def verify(stack: ChaosStack, load: Load, since: float, timeout: float = 120) -> Verdict:
    """Wait for every accepted message to reach a provider outcome, then check the promises."""

    def settled() -> dict[str, Row] | None:
        current = _rows(stack.database_url, load.accepted)
        done = all(i in current and current[i].status in OUTCOMES for i in load.accepted)
        return current if done else None

    try:
        final = wait_for(settled, timeout=timeout, interval=0.5, what="every message to settle")
    except AssertionError:
        final = _rows(stack.database_url, load.accepted)
    recovery = time.monotonic() - since
    # Lost: never reached an outcome, or failed without a reason.
    lost = sum(
        i not in final
        or final[i].status not in OUTCOMES
        or (final[i].status == "failed" and not final[i].error_code)
        for i in load.accepted
    )
    counts = httpx.get(f"{stack.fake_url}/_fake/sends", timeout=10).json()["by_callback"]
    twice = [i for i in load.accepted if counts.get(i, 0) > 1]
    uncounted = [i for i in twice if counts[i] - 1 > final[i].ambiguous_resends]
    return Verdict(
        accepted=len(load.accepted),
        lost=lost,
        sent_twice=len(twice),
        counted_ambiguous=sum(r.ambiguous_resends for r in final.values()),
        uncounted_doubles=len(uncounted),
        out_of_order=_out_of_order(stack.fake_url, final),
        recovery_seconds=recovery,
    )


def _out_of_order(fake_url: str, final: dict[str, Row]) -> int:
    """Conversations whose messages first reached the provider in another order than accepted."""
    by_phone: dict[str, list[tuple[int, str]]] = {}
    for message_id, row in final.items():
        by_phone.setdefault(row.to_phone.lstrip("+"), []).append((row.seq, message_id))
    wrong = 0
    with httpx.Client(base_url=fake_url, timeout=10) as http:
        for phone, messages in by_phone.items():
            first_seen: list[str] = []
            for callback in http.get(f"/_fake/recipients/{phone}").json()["callbacks"]:
                if callback not in first_seen:
                    first_seen.append(callback)
            sent = set(first_seen)
            intake_order = [m for _, m in sorted(messages) if m in sent]
            wrong += [m for m in first_seen if m in final] != intake_order
    return wrong

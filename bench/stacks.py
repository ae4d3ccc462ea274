"""The two pipelines under test, each with its own default process shape and a fresh database.

wapipe runs as `wapipe api` and `wapipe worker` with no tuning options (only `--port`, so a
developer's own `make run` on port 8000 does not collide); the naive pipeline runs with the
process shape its README gives. Both get a fresh fake provider with the same switches.
"""

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis

from bench.load import Target
from bench.probes import BenchError, recreate_database
from tests.e2e.processes import WAPIPE, Process, wait_http_ok
from tests.support import free_port

REPO = Path(__file__).resolve().parents[1]
PHONE_NUMBER_ID, ACCESS_TOKEN, APP_SECRET = "9000001", "bench-access-token", "bench-app-secret"
WAPIPE_DB, NAIVE_DB = "wapipe_bench_compare", "wapipe_bench_naive"
READ_SQL = "SELECT count(*) FROM messages WHERE status = 'read'"
# Settings of either pipeline that a developer's shell may carry: the benchmark runs defaults.
FOREIGN_ENV = ("WAPIPE_", "NAIVE_", "WHATSAPP_", "DATABASE_URL")


@dataclass(frozen=True)
class StackOptions:
    status_delay_ms: int
    naive_dir: Path
    naive_redis_url: str
    logs: Path


@dataclass
class BenchProcess(Process):
    """A Process started in a chosen folder (the naive app is imported from its own)."""

    cwd: Path = REPO

    def start(self) -> "BenchProcess":
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self


@dataclass
class Stack:
    name: str
    target: Target
    dsn: str
    fake: BenchProcess
    api: BenchProcess
    worker: BenchProcess
    fake_url: str
    ready_path: str | None  # None: the app has no health endpoint, a first POST tells
    forget_queue: Callable[[], None] = field(repr=False)

    def wait_api(self) -> None:
        if self.ready_path is not None:
            wait_http_ok(self.target.url + self.ready_path, self.api)

    def post(self, phone: str) -> httpx.Response:
        body: dict[str, object] = {"to": phone, "text": "warm-up"}
        headers = {}
        if self.target.company != "-":
            body["company_id"] = int(self.target.company)
        if self.target.auth != "-":
            headers["Authorization"] = self.target.auth
        return httpx.post(f"{self.target.url}/v1/messages", json=body, headers=headers, timeout=10)


def fake_process(opts: StackOptions, name: str, port: int, webhook_url: str) -> BenchProcess:
    argv = [*WAPIPE, "fake-provider", "--port", str(port), "--webhook-url", webhook_url,
            "--app-secret", APP_SECRET, "--channel", f"{PHONE_NUMBER_ID}={ACCESS_TOKEN}",
            "--status-delay-ms", str(opts.status_delay_ms)]  # fmt: skip
    return BenchProcess(f"{name}-fake", argv, _env({}), opts.logs / f"{name}-fake.log")


def wapipe_stack(opts: StackOptions) -> Stack:
    recreate_database(WAPIPE_DB)
    api_port, fake_port = free_port(), free_port()
    api_url, fake_url = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{fake_port}"
    namespace = f"wapipe-compare-{uuid.uuid4().hex[:8]}"
    env = _env(
        {
            "DATABASE_URL": f"postgresql+psycopg:///{WAPIPE_DB}",
            "WHATSAPP_API_BASE_URL": f"{fake_url}/v21.0",
            "WHATSAPP_APP_SECRET": APP_SECRET,
            "WAPIPE_QUEUE_NAMESPACE": namespace,
            # wrk sends flat out from one API key: the rate limiter runs (its cost is
            # measured) but is never reached.
            "WAPIPE_API_RATE_LIMIT": "1000000",
            # The events variant's receiver is on loopback (bench/events.py).
            "WAPIPE_EVENTS_ALLOW_PRIVATE_URLS": "true",
        }
    )
    _run([*WAPIPE, "db", "upgrade"], env)
    company = json.loads(
        _run([*WAPIPE, "company", "create", "--name", "Bench", "--json",
              "--phone-number-id", PHONE_NUMBER_ID, "--access-token", ACCESS_TOKEN], env)
    )  # fmt: skip
    # Meta's upgraded tier: flat out, one company must not be held to the default 80/s.
    _run([*WAPIPE, "channels", "set-rate", "--company", company["company_id"], "--mps", "1000"],
         env)  # fmt: skip
    redis_url = env.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    return Stack(
        name="wapipe",
        target=Target(api_url, auth=f"Bearer {company['api_key']}"),
        dsn=f"dbname={WAPIPE_DB}",
        fake=fake_process(opts, "wapipe", fake_port, f"{api_url}/webhooks/whatsapp"),
        api=BenchProcess("wapipe-api", [*WAPIPE, "api", "--port", str(api_port)], env,
                         opts.logs / "wapipe-api.log"),
        worker=BenchProcess("wapipe-worker", [*WAPIPE, "worker"], env,
                            opts.logs / "wapipe-worker.log"),
        fake_url=fake_url,
        ready_path="/readyz",
        forget_queue=lambda: _delete_keys(redis_url, f"{namespace}:*"),
    )  # fmt: skip


def naive_stack(opts: StackOptions) -> Stack:
    recreate_database(NAIVE_DB)
    api_port, fake_port = free_port(), free_port()
    api_url, fake_url = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{fake_port}"
    env = _env(
        {
            "NAIVE_PG_DSN": f"dbname={NAIVE_DB}",
            "NAIVE_REDIS_URL": opts.naive_redis_url,
            "NAIVE_PROVIDER_URL": f"{fake_url}/v21.0/{PHONE_NUMBER_ID}/messages",
            "NAIVE_TOKEN": ACCESS_TOKEN,
            "NAIVE_APP_SECRET": APP_SECRET,
        }
    )
    _run([sys.executable, "naive.py", "init"], env, cwd=opts.naive_dir)

    # Its queue name is fixed (`naive`) and its namespace dramatiq's default: keys of an
    # interrupted earlier run would be delivered first, so the whole namespace is cleared.
    def forget() -> None:
        _delete_keys(opts.naive_redis_url, "dramatiq:*")

    forget()
    gunicorn = [sys.executable, "-m", "gunicorn", "-w", "2", "-k", "gthread", "--threads", "8",
                "-b", f"127.0.0.1:{api_port}", "naive:app"]  # fmt: skip
    dramatiq = [sys.executable, "-m", "dramatiq", "naive", "-p", "2", "-t", "8", "-Q", "naive"]
    return Stack(
        name="naive",
        target=Target(api_url, company="1"),
        dsn=f"dbname={NAIVE_DB}",
        fake=fake_process(opts, "naive", fake_port, f"{api_url}/webhooks/whatsapp"),
        api=BenchProcess("naive-api", gunicorn, env, opts.logs / "naive-api.log",
                         cwd=opts.naive_dir),
        worker=BenchProcess("naive-worker", dramatiq, env, opts.logs / "naive-worker.log",
                            cwd=opts.naive_dir),
        fake_url=fake_url,
        ready_path=None,
        forget_queue=forget,
    )  # fmt: skip


def _env(settings: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN_ENV)}
    env.update(settings)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _run(argv: list[str], env: dict[str, str], cwd: Path = REPO) -> str:
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"{' '.join(argv[1:])} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def _delete_keys(url: str, pattern: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=pattern, count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])
    finally:
        client.close()

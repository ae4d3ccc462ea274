"""Throughput of the intake and of the whole pipeline, on this machine, with real processes.

    .venv/bin/python -m bench.pipeline [--messages 3000] [--concurrency 32]

Starts gunicorn and the fake provider against a database of its own and posts messages from
several client processes (intake alone: requests/s and latency percentiles); then starts the
dramatiq workers and times the backlog's drain to `sent` and to `read` (delivery plus three
status webhooks per message). Then, with everything running, intake and delivery together.
Figures, not assertions.
"""

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from db import migrate
from db.session import Database, make_engine
from pipeline.services import tenants
from pipeline.services.channels import set_send_rate
from tests.e2e.processes import WAPIPE, Process, running, stack_env, wait_http_ok
from tests.support import free_port

DATABASE_URL = "postgresql+psycopg:///wapipe_bench_pipeline"


def _client(args: tuple[str, str, int, int]) -> list[float]:
    """One client process: post ``count`` messages, return each request's latency (s)."""
    api_url, api_key, count, seed = args
    latencies = []
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=api_url, headers=headers, timeout=30) as http:
        for i in range(count):
            phone = f"+1650555{(seed * 7919 + i) % 10000:04d}"
            started = time.perf_counter()
            response = http.post("/v1/messages", json={"to": phone, "text": f"bench {i}"})
            latencies.append(time.perf_counter() - started)
            if response.status_code != 202:
                raise SystemExit(f"intake answered {response.status_code}: {response.text}")
    return latencies


def _count(status: str) -> int:
    engine = create_engine(DATABASE_URL)
    with engine.connect() as conn:
        value = conn.execute(
            text("SELECT count(*) FROM messages WHERE status = ANY(:s)"),
            {"s": ["sent", "delivered", "read"] if status == "sent" else [status]},
        ).scalar_one()
    engine.dispose()
    return int(value)


def _wait(status: str, total: int, started: float, timeout: float = 600) -> float:
    while _count(status) < total:
        if time.perf_counter() - started > timeout:
            raise SystemExit(f"timed out waiting for {status}")
        time.sleep(0.2)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32, help="client connections")
    parser.add_argument("--api-workers", type=int, default=2)
    parser.add_argument("--worker-processes", type=int, default=2)
    parser.add_argument("--worker-threads", type=int, default=4)
    parser.add_argument(
        "--no-statuses", action="store_true", help="the fake sends no status webhooks"
    )
    parser.add_argument(
        "--batch-webhooks",
        action="store_true",
        help="the fake batches statuses into shared webhook POSTs, as Meta does under load",
    )
    opts = parser.parse_args()

    migrate.drop_database(DATABASE_URL)
    migrate.create_database(DATABASE_URL)
    migrate.upgrade(DATABASE_URL)
    database = Database(make_engine(DATABASE_URL, pool_size=1))
    company = tenants.create_company(database, "Bench", "9000001", "bench-token")
    set_send_rate(database, company.company_id, 1000)  # Meta's upgraded tier, not 80/s
    database.dispose()

    api_port, fake_port = free_port(), free_port()
    api_url = f"http://127.0.0.1:{api_port}"
    env = stack_env(
        {
            "DATABASE_URL": DATABASE_URL,
            "WHATSAPP_API_BASE_URL": f"http://127.0.0.1:{fake_port}/v21.0",
            "WAPIPE_QUEUE_NAMESPACE": f"wapipe-bench-{uuid.uuid4().hex[:8]}",
            # One API key flat out: the rate limiter runs but is never reached.
            "WAPIPE_API_RATE_LIMIT": "1000000",
        }
    )
    logs = Path(tempfile.mkdtemp(prefix="wapipe-bench-"))
    fake = Process(
        "fake",
        [*WAPIPE, "fake-provider", "--port", str(fake_port), "--accept-any-token",
         "--status-delay-ms", "50", "--webhook-url", f"{api_url}/webhooks/whatsapp",
         *(["--batch"] if opts.batch_webhooks else []),
         *(["--no-statuses"] if opts.no_statuses else [])],
        env, logs / "fake.log",
    )  # fmt: skip
    api = Process(
        "api",
        [*WAPIPE, "api", "--port", str(api_port), "--workers", str(opts.api_workers)],
        env, logs / "api.log",
    )  # fmt: skip
    worker = Process(
        "worker",
        [*WAPIPE, "worker", "--processes", str(opts.worker_processes),
         "--threads", str(opts.worker_threads)],
        env, logs / "worker.log",
    )  # fmt: skip
    per_client = opts.messages // opts.concurrency
    total = per_client * opts.concurrency
    print(f"messages: {total}, client connections: {opts.concurrency}, "
          f"api workers: {opts.api_workers}, dramatiq: {opts.worker_processes}x"
          f"{opts.worker_threads}, webhooks "
          f"{'batched' if opts.batch_webhooks else 'one status per POST'}")  # fmt: skip
    jobs = [(api_url, company.api_key, per_client, seed) for seed in range(opts.concurrency)]
    with running(fake, api):
        wait_http_ok(f"http://127.0.0.1:{fake_port}/_fake/healthz", fake)
        wait_http_ok(f"{api_url}/readyz", api)
        _intake("intake alone", jobs, total)
        with running(worker):
            started = time.perf_counter()
            to_sent = _wait("sent", total, started)
            print(f"delivery of the backlog: all sent after {to_sent:.1f}s = "
                  f"{total / to_sent:,.0f} msg/s")  # fmt: skip
            if opts.no_statuses:
                return
            to_read = _wait("read", total, started)
            print(f"  and all read after {to_read:.1f}s = {total / to_read:,.0f} msg/s")
            started = time.perf_counter()
            _intake("intake while delivering", jobs, total)
            to_read = _wait("read", 2 * total, started)
            print(f"end to end, {total} more: all read {to_read:.1f}s after the first request "
                  f"= {total / to_read:,.0f} msg/s")  # fmt: skip
    print(f"logs: {logs}", file=sys.stderr)


def _intake(label: str, jobs: list[tuple[str, str, int, int]], total: int) -> None:
    started = time.perf_counter()
    with multiprocessing.Pool(min(len(jobs), 8)) as pool:
        chunks = pool.map(_client, jobs, chunksize=1)
    seconds = time.perf_counter() - started
    latencies = sorted(x for chunk in chunks for x in chunk)
    p50 = statistics.median(latencies) * 1000
    p95 = latencies[int(len(latencies) * 0.95) - 1] * 1000
    print(f"{label}: {total / seconds:,.0f} req/s (p50 {p50:.1f} ms, p95 {p95:.1f} ms)")


if __name__ == "__main__":
    main()

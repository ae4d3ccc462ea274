"""Each pipeline process on its own: `wapipe api` (gunicorn) and `wapipe worker` (dramatiq)."""

import os
import sys

import click

from pipeline.config import get_settings
from pipeline.observability.metrics import MULTIPROC_ENV, fresh_multiproc_dir
from pipeline.startup import refuse_if_insecure, refuse_if_tokens_unreadable
from workers.broker import QUEUES


def metrics_env(role: str, port: int | None = None) -> dict[str, str]:
    """The environment a process group needs for its metrics: a fresh directory its
    processes share (prometheus_client's multiprocess mode), and the worker's port."""
    env = {MULTIPROC_ENV: fresh_multiproc_dir(role)}
    if port is not None:
        env["WAPIPE_METRICS_PORT"] = str(port)
    return env


def api_argv(host: str, port: int, workers: int, threads: int) -> list[str]:
    return [
        sys.executable, "-m", "gunicorn", "pipeline.api.wsgi:app",
        "--bind", f"{host}:{port}",
        "--workers", str(workers),
        # gthread, answering the requests gunicorn itself refuses in our JSON error shape,
        # and handing open event streams to an asyncio loop (they hold no thread).
        "--worker-class", "pipeline.events.stream_worker.StreamingThreadWorker",
        "--threads", str(threads),
        "--graceful-timeout", "10",
        "--no-control-socket",
        "--config", "python:pipeline.api.gunicorn_conf",
        # An access log even to /dev/null formats a line per request (a tenth of the API's
        # CPU under load): none unless asked for.
        *(["--access-logfile", "-"] if os.environ.get("WAPIPE_ACCESS_LOG") else []),
    ]  # fmt: skip


def worker_argv(processes: int, threads: int, queues: tuple[str, ...]) -> list[str]:
    return [
        sys.executable, "-m", "dramatiq", "workers.main",
        "--processes", str(processes),
        "--threads", str(threads),
        "--queues", *queues,
    ]  # fmt: skip


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
@click.option("--workers", default=2, show_default=True, help="gunicorn worker processes.")
@click.option("--threads", default=8, show_default=True, help="Threads per worker.")
def api(host: str, port: int, workers: int, threads: int) -> None:
    """Run the intake API and webhook endpoint under gunicorn."""
    refuse_if_insecure(get_settings())
    os.environ.update(metrics_env("api"))
    argv = api_argv(host, port, workers, threads)
    os.execv(sys.executable, argv)  # noqa: S606 - replace this process, no shell


@click.command()
@click.option("--processes", default=2, show_default=True)
@click.option(
    "--threads",
    default=4,
    show_default=True,
    help="Per process; on 2 cores 2x4 delivered 30% more than 2x8 (bench.pipeline).",
)
@click.option(
    "--queues",
    default=",".join(QUEUES),
    show_default=True,
    help="Comma-separated queues to consume.",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="/metrics and /healthz of this worker group [default: WAPIPE_METRICS_PORT, 9191; 0: off].",
)
def worker(processes: int, threads: int, queues: str, metrics_port: int | None) -> None:
    """Run Dramatiq workers for delivery and webhook processing."""
    chosen = tuple(q.strip() for q in queues.split(",") if q.strip())
    unknown = set(chosen) - set(QUEUES)
    if unknown:
        raise click.BadParameter(f"unknown queue(s): {', '.join(sorted(unknown))}")
    refuse_if_insecure(get_settings())
    refuse_if_tokens_unreadable(get_settings())
    os.environ.update(metrics_env("worker", metrics_port))
    os.execv(sys.executable, worker_argv(processes, threads, chosen))  # noqa: S606

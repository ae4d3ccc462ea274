"""Each pipeline process on its own: `wapipe api` (gunicorn) and `wapipe worker` (dramatiq)."""

import os
import sys

import click

from pipeline.config import get_settings
from pipeline.startup import refuse_if_insecure
from workers.broker import QUEUES


def api_argv(host: str, port: int, workers: int, threads: int) -> list[str]:
    return [
        sys.executable, "-m", "gunicorn", "pipeline.api.wsgi:app",
        "--bind", f"{host}:{port}",
        "--workers", str(workers),
        # gthread, answering the requests gunicorn itself refuses in our JSON error shape.
        "--worker-class", "pipeline.api.server.JsonErrorsThreadWorker",
        "--threads", str(threads),
        "--graceful-timeout", "10",
        "--no-control-socket",
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
def worker(processes: int, threads: int, queues: str) -> None:
    """Run Dramatiq workers for delivery and webhook processing."""
    chosen = tuple(q.strip() for q in queues.split(",") if q.strip())
    unknown = set(chosen) - set(QUEUES)
    if unknown:
        raise click.BadParameter(f"unknown queue(s): {', '.join(sorted(unknown))}")
    refuse_if_insecure(get_settings())
    os.execv(sys.executable, worker_argv(processes, threads, chosen))  # noqa: S606

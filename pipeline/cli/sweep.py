"""`wapipe sweep`: re-enqueue work whose job was lost, once or on a schedule."""

import json
import re
import signal
import threading
from datetime import UTC, datetime
from types import FrameType

import click

from pipeline.bootstrap import Container
from pipeline.cli.context import pass_container
from pipeline.services.sweeper import SweepReport, sweep
from workers.queues import RedisQueues

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: str) -> float:
    """`30s`, `2m`, `500ms`, `1h` or plain seconds, as seconds."""
    match = _DURATION.match(value)
    if match is None:
        raise click.BadParameter(f"{value!r} is not a duration like 30s, 2m or 500ms")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2) or "s"]


def _as_json(report: SweepReport) -> str:
    return json.dumps(
        {
            "messages": [str(m) for m in report.messages],
            "webhooks": report.webhooks,
            "enqueue_errors": report.enqueue_errors,
            "taken_over": report.taken_over,
            "expired_idempotency_keys": report.expired_idempotency_keys,
            "parked": report.parked,
        }
    )


def _line(report: SweepReport) -> str:
    """One short line per sweep (under 80 columns), stamped for a log."""
    errors = f", {report.enqueue_errors} enqueue error(s)" if report.enqueue_errors else ""
    return (
        f"{datetime.now(UTC):%H:%M:%SZ} re-enqueued {len(report.messages)} message(s), "
        f"{len(report.webhooks)} webhook(s){errors}"
    )


@click.command("sweep")
@click.option("--once", is_flag=True, help="Sweep once and exit.")
@click.option("--every", default=None, metavar="DURATION", help="Sweep on a schedule: 30s, 1m.")
@click.option(
    "--grace",
    default=None,
    metavar="DURATION",
    help="How overdue a job must be when Redis cannot tell whether it is gone "
    "(default WAPIPE_SWEEP_GRACE_SECONDS).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per sweep.")
@pass_container
def sweep_command(
    container: Container, once: bool, every: str | None, grace: str | None, as_json: bool
) -> None:
    """Re-enqueue `sending` messages whose job was lost; apply overdue stored webhooks."""
    if once == (every is not None):
        raise click.UsageError("give exactly one of --once or --every DURATION")
    grace_seconds = (
        parse_duration(grace) if grace else container.settings.wapipe_sweep_grace_seconds
    )
    interval = parse_duration(every) if every else 0.0
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()  # finish the sweep in progress, then exit

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while True:
            report = sweep(
                container.db,
                container.queue,
                int(grace_seconds),
                container.settings.wapipe_sweep_batch,
                RedisQueues(container.broker),
                purge_keys=True,
            )
            click.echo(_as_json(report) if as_json else _line(report))
            if once or stop.wait(interval):
                break
    finally:
        # The container is closed by the `wapipe` group; the handlers go back to the caller's.
        for sig, handler in previous.items():
            signal.signal(sig, handler)

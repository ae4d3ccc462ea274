"""`wapipe sweep`: re-enqueue work whose job was lost, once or on a schedule."""

import json
import re
import signal
import threading
from types import FrameType

import click

from pipeline.bootstrap import bootstrap
from pipeline.services.sweeper import SweepReport, sweep

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
        }
    )


@click.command("sweep")
@click.option("--once", is_flag=True, help="Sweep once and exit.")
@click.option("--every", default=None, metavar="DURATION", help="Sweep on a schedule: 30s, 1m.")
@click.option(
    "--grace",
    default=None,
    metavar="DURATION",
    help="How overdue a job must be (default WAPIPE_SWEEP_GRACE_SECONDS).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per sweep.")
def sweep_command(once: bool, every: str | None, grace: str | None, as_json: bool) -> None:
    """Re-enqueue `sending` messages and stored webhooks whose job was lost."""
    if once == (every is not None):
        raise click.UsageError("give exactly one of --once or --every DURATION")
    container = bootstrap()
    grace_seconds = (
        parse_duration(grace) if grace else container.settings.wapipe_sweep_grace_seconds
    )
    interval = parse_duration(every) if every else 0.0
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()  # finish the sweep in progress, then exit

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _stop)
    try:
        while True:
            report = sweep(
                container.db,
                container.queue,
                int(grace_seconds),
                container.settings.wapipe_sweep_batch,
            )
            click.echo(_as_json(report) if as_json else str(report))
            if once or stop.wait(interval):
                break
    finally:
        container.close()

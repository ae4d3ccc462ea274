"""`wapipe stats`: the pipeline at a glance, once or refreshed with --watch."""

import time
import uuid
from collections.abc import Iterator
from datetime import datetime

import click
from rich.console import Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from pipeline.bootstrap import Container
from pipeline.cli.context import (
    age,
    console,
    echo_json,
    json_option,
    pass_container,
    safe,
    short_time,
)
from pipeline.cli.sweep import parse_duration
from pipeline.services.stats import STATUSES, Stats, collect_stats


def render(stats: Stats) -> RenderableType:
    parts: list[RenderableType] = [Text(f"wapipe stats at {short_time(stats.at)}", style="bold")]
    messages = Table(box=None, pad_edge=False, header_style="bold")
    messages.add_column("COMPANY", no_wrap=True, overflow="ellipsis", ratio=1)
    for status in STATUSES:
        messages.add_column(status.upper(), justify="right", no_wrap=True)
    for company in sorted(stats.companies.values(), key=lambda c: str(c["name"])):
        messages.add_row(safe(company["name"]), *(str(company["counts"][s]) for s in STATUSES))
    totals = stats.totals()
    messages.add_row("[bold]all[/]", *(f"[bold]{totals[s]}[/]" for s in STATUSES))
    parts.append(messages)

    if stats.queues is None:
        parts.append(Text(f"queues: Redis unreachable ({stats.queues_error})", style="red"))
    else:
        queues = Table(box=None, pad_edge=False, header_style="bold")
        for column in ("QUEUE", "READY", "IN FLIGHT", "DELAYED", "DEAD"):
            queues.add_column(column, justify="left" if column == "QUEUE" else "right")
        for name, depth in stats.queues.items():
            dead = str(depth["dead"]) if not depth["dead"] else f"[red]{depth['dead']}[/]"
            queues.add_row(
                name, str(depth["ready"]), str(depth["in_flight"]), str(depth["delayed"]), dead
            )
        parts.append(queues)

    oldest = stats.oldest_sending
    if oldest is None:
        parts.append(Text("oldest sending: none"))
    else:
        paused = ", channel paused" if oldest["channel_paused"] else ""
        parts.append(Text(f"oldest sending: {age(oldest['age_seconds'])} ({oldest['id']}{paused})"))
    backlog = stats.webhook_backlog
    oldest_hook = f", oldest {age(backlog['oldest_age_seconds'])}" if backlog["count"] else ""
    parts.append(Text(f"webhook inbox backlog: {backlog['count']}{oldest_hook}"))
    parts.append(Text(f"ambiguous resends (may have been sent twice): {stats.ambiguous_resends}"))
    if stats.paused_channels:
        paused_table = Table(title="paused channels", box=None, pad_edge=False, header_style="bold")
        paused_table.add_column("COMPANY", overflow="fold", ratio=1)
        paused_table.add_column("FOR", no_wrap=True, justify="right")
        paused_table.add_column("WAITING", no_wrap=True, justify="right")
        paused_table.add_column("WHY", overflow="fold", ratio=2)
        for p in stats.paused_channels:
            since = (stats.at - _parse(p["paused_at"])).total_seconds()
            why = f"{p['code']}: {p['reason']}"
            paused_table.add_row(safe(p["company"]), age(since), str(p["waiting"]), safe(why))
        parts.append(paused_table)
    else:
        parts.append(Text("paused channels: none"))
    parts.append(_nodes(stats))
    return Group(*parts)


def _nodes(stats: Stats) -> RenderableType:
    if not stats.nodes:
        return Text("worker nodes: none alive (nothing is delivered or maintained)", style="red")
    table = Table(title="worker nodes", box=None, pad_edge=False, header_style="bold")
    for column in ("HOST", "PID", "QUEUES", "HEARTBEAT", "ROLE"):
        table.add_column(column, no_wrap=True, overflow="ellipsis")
    for node in stats.nodes:
        beat = (stats.at - _parse(node["heartbeat_at"])).total_seconds()
        table.add_row(
            safe(node["host"]),
            str(node["pid"]),
            ",".join(node["queues"]),
            f"{age(beat)} ago",
            "[bold]leader[/]" if node["leader"] else "",
        )
    return table


def _parse(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


@click.command("stats")
@click.option("--company", "company_id", type=click.UUID, help="Only this company.")
@click.option("--watch", is_flag=True, help="Refresh until Ctrl-C.")
@click.option("--interval", default="2s", show_default=True, metavar="DURATION")
@click.option("--iterations", type=click.IntRange(min=1), hidden=True)
@json_option
@pass_container
def stats_command(
    container: Container,
    company_id: uuid.UUID | None,
    watch: bool,
    interval: str,
    iterations: int | None,
    as_json: bool,
) -> None:
    """Messages per status and company, queue depths, backlogs, paused channels, and the
    live worker nodes (which one leads)."""
    seconds = parse_duration(interval)
    out = console()

    def snapshot() -> Stats:
        return collect_stats(container.db, container.broker, company_id)

    rounds = iterations or (None if watch else 1)
    try:
        if watch and not as_json and out.is_terminal:
            with Live(render(snapshot()), console=out, auto_refresh=False) as screen:
                for _ in _ticks(rounds, seconds, first=False):
                    screen.update(render(snapshot()), refresh=True)
            return
        for n in _ticks(rounds, seconds, first=True):
            stats = snapshot()
            if as_json:
                echo_json(stats.as_dict())
                continue
            if n:
                out.print()
            out.print(render(stats))
    except KeyboardInterrupt:  # how a watch ends
        pass


def _ticks(rounds: int | None, seconds: float, first: bool) -> Iterator[int]:
    """Round numbers with a pause before each but round 0 (shown before the loop unless
    ``first``); endless without ``rounds``."""
    n = 0 if first else 1
    while rounds is None or n < rounds:
        if n:
            time.sleep(seconds)
        yield n
        n += 1

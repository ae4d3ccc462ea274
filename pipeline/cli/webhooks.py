"""`wapipe webhooks list|replay`: the stored deliveries, what could not be applied, and
applying them again (a no-op when repeated)."""

from datetime import datetime

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from pipeline.bootstrap import Container
from pipeline.cli.context import (
    MOMENT,
    actor_option,
    console,
    echo_json,
    json_option,
    pass_container,
    reason_option,
    safe,
    short_time,
    yes_option,
)
from pipeline.services.audit import Operator
from pipeline.services.webhook_replay import (
    StoredWebhook,
    find_webhooks,
    list_webhooks,
    replay_webhooks,
)


@click.group()
def webhooks() -> None:
    """Stored webhook deliveries (the inbox)."""


@webhooks.command("replay")
@click.option("--id", "delivery_ids", type=int, multiple=True, help="A delivery id; repeatable.")
@click.option("--since", type=MOMENT, help="Received at or after: ISO or 30m/2h/1d.")
@click.option("--until", type=MOMENT, help="Received before: ISO or 30m/2h/1d.")
@click.option("--dry-run", is_flag=True, help="Show how many would be replayed.")
@yes_option
@actor_option
@reason_option
@json_option
@pass_container
def replay_command(
    container: Container,
    delivery_ids: tuple[int, ...],
    since: datetime | None,
    until: datetime | None,
    dry_run: bool,
    yes: bool,
    actor: str,
    reason: str | None,
    as_json: bool,
) -> None:
    """Re-apply stored deliveries' statuses, processed or not.

    Safe to repeat: a status already applied is recorded again and changes nothing.
    """
    if bool(delivery_ids) == (since is not None):
        raise click.UsageError("give --id ID (repeatable) or --since TIME [--until TIME]")
    operator = Operator(actor, reason)
    found = find_webhooks(container.db, delivery_ids, since, until)
    missing = set(delivery_ids) - {d.id for d in found}
    if missing:
        raise click.ClickException(f"no webhook delivery {min(missing)} (nothing was replayed)")
    out = console(stderr=as_json)
    unprocessed = sum(d.processed_at is None for d in found)
    out.print(f"{len(found)} stored delivery(ies), {unprocessed} not processed yet")
    if dry_run or not found:
        if as_json:
            echo_json({"deliveries": [d.id for d in found], "replayed": 0})
        return
    if not yes and len(found) > 1:
        click.confirm(f"Replay {len(found)} deliveries?", abort=True, err=True)
    details = {"since": str(since) if since else None, "until": str(until) if until else None}
    with Progress(
        TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), console=console(stderr=True)
    ) as progress:
        task = progress.add_task("replay", total=len(found))
        action_id = replay_webhooks(
            container.db, operator, found, details, on_each=lambda _: progress.advance(task)
        )
    if as_json:
        echo_json(
            {"deliveries": [d.id for d in found], "replayed": len(found), "action_id": action_id}
        )
        return
    out.print(f"replayed {len(found)} deliveries (audit #{action_id})")


@webhooks.command("list")
@click.option(
    "--failed", is_flag=True, help="Only those quarantined, failing, or with items skipped."
)
@click.option("--since", type=MOMENT, help="Received at or after: ISO or 30m/2h/1d.")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@json_option
@pass_container
def list_command(
    container: Container, failed: bool, since: datetime | None, limit: int, as_json: bool
) -> None:
    """The latest stored deliveries, newest first, with what could not be applied.

    A quarantined delivery failed MAX_TRIES times as a whole and is no longer retried:
    fix the cause, then `wapipe webhooks replay --id ID`. Skipped items were recorded and
    the rest of their delivery applied.
    """
    found = list_webhooks(container.db, failed, since, limit)
    if as_json:
        echo_json([d.as_dict() for d in found])
        return
    out = console()
    if not found:
        out.print("no stored deliveries" + (" with a problem" if failed else ""))
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("ID", "RECEIVED", "STATE", "TRIES"):
        table.add_column(column, no_wrap=True)
    table.add_column("PROBLEM", overflow="fold")
    for delivery in found:
        table.add_row(
            str(delivery.id),
            short_time(delivery.received_at),
            delivery.state,
            str(delivery.tries),
            safe(_problem(delivery)),
        )
    out.print(table)


def _problem(delivery: StoredWebhook) -> str:
    """The delivery's error, and its skipped items in a few words."""
    parts = [delivery.error] if delivery.error else []
    for item in delivery.item_errors or []:
        parts.append(f"{item['kind']} {item['id']} skipped: {item['error']}")
    return "; ".join(parts) or "-"

"""`wapipe events list|replay`: events' deliveries to webhook endpoints."""

import uuid
from datetime import datetime

import click
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
)
from pipeline.services.audit import Operator
from pipeline.services.event_deliveries import list_deliveries, replay_deliveries


@click.group()
def events() -> None:
    """Events delivered to webhook endpoints."""


@events.command("list")
@click.option("--company", "company_id", type=click.UUID, default=None)
@click.option("--endpoint", "endpoint_id", type=click.UUID, default=None)
@click.option("--status", type=click.Choice(["pending", "succeeded", "failed"]), default=None)
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@json_option
@pass_container
def list_command(
    container: Container,
    company_id: uuid.UUID | None,
    endpoint_id: uuid.UUID | None,
    status: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """The latest deliveries, newest first: each event's status at each endpoint."""
    found = list_deliveries(container.db, company_id, endpoint_id, status, limit)
    if as_json:
        echo_json([row.as_dict() for row in found])
        return
    out = console()
    if not found:
        out.print("no event deliveries")
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("EVENT", "TYPE", "ENDPOINT", "STATUS", "TRIES", "NEXT"):
        table.add_column(column, no_wrap=True)
    table.add_column("LAST ERROR", overflow="fold")
    for row in found:
        table.add_row(
            row.event_id,
            row.type,
            str(row.endpoint_id)[:8],
            row.status,
            str(row.attempts),
            short_time(row.next_attempt_at),
            safe(row.last_error or "-"),
        )
    out.print(table)


@events.command("replay")
@click.option("--endpoint", "endpoint_id", type=click.UUID, required=True)
@click.option("--since", type=MOMENT, required=True, help="ISO or an age: 30m, 2h, 1d.")
@actor_option
@reason_option
@json_option
@pass_container
def replay_command(
    container: Container,
    endpoint_id: uuid.UUID,
    since: datetime,
    actor: str,
    reason: str | None,
    as_json: bool,
) -> None:
    """Deliver again every event since TIME the endpoint did not receive (failed, or sent
    while it was disabled); receivers deduplicate by `webhook-id`. Audited."""
    done = replay_deliveries(container.db, Operator(actor, reason), endpoint_id, since)
    if done is None:
        raise click.ClickException(f"no webhook endpoint {endpoint_id}")
    if as_json:
        echo_json(
            {
                "endpoint_id": str(endpoint_id),
                "replayed": done.replayed,
                "action_id": done.action_id,
            }
        )
        return
    console().print(
        f"{done.replayed} event(s) to deliver again to {endpoint_id} (audit #{done.action_id})"
    )

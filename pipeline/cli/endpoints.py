"""`wapipe endpoints list|disable|enable`: webhook endpoints, for operators."""

import uuid

import click
from rich.table import Table

from pipeline.bootstrap import Container
from pipeline.cli.context import (
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
from pipeline.services.webhook_endpoints import all_endpoints, endpoint_view, set_enabled


@click.group()
def endpoints() -> None:
    """Webhook endpoints that receive events."""


@endpoints.command("list")
@click.option("--company", "company_id", type=click.UUID, default=None)
@json_option
@pass_container
def list_command(container: Container, company_id: uuid.UUID | None, as_json: bool) -> None:
    """Every endpoint (of one company), with whether it is disabled and why."""
    with container.db.transaction() as session:
        found = [(e.company_id, e.failing_since, endpoint_view(e)) for e in all_endpoints(
            session, company_id)]  # fmt: skip
    if as_json:
        echo_json([view | {"company_id": str(company)} for company, _, view in found])
        return
    out = console()
    if not found:
        out.print("no webhook endpoints")
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("ID", "COMPANY", "STATE", "FAILING SINCE"):
        table.add_column(column, no_wrap=True)
    table.add_column("URL", overflow="fold")
    for company, failing_since, view in found:
        state = f"disabled ({view['disabled_reason']})" if view["disabled_at"] else "enabled"
        table.add_row(
            view["id"], str(company)[:8], state, short_time(failing_since), safe(view["url"])
        )
    out.print(table)


@endpoints.command("disable")
@click.argument("endpoint_id", type=click.UUID)
@actor_option
@reason_option
@pass_container
def disable_command(
    container: Container, endpoint_id: uuid.UUID, actor: str, reason: str | None
) -> None:
    """Stop delivering to an endpoint (its events wait: `wapipe events replay` later)."""
    _set(container, Operator(actor, reason), endpoint_id, enabled=False)


@endpoints.command("enable")
@click.argument("endpoint_id", type=click.UUID)
@actor_option
@reason_option
@pass_container
def enable_command(
    container: Container, endpoint_id: uuid.UUID, actor: str, reason: str | None
) -> None:
    """Deliver to an endpoint again (its failure clock starts afresh)."""
    _set(container, Operator(actor, reason), endpoint_id, enabled=True)


def _set(container: Container, operator: Operator, endpoint_id: uuid.UUID, enabled: bool) -> None:
    action_id = set_enabled(container.db, operator, endpoint_id, enabled)
    if action_id is None:
        raise click.ClickException(f"no webhook endpoint {endpoint_id}")
    done = "enabled" if enabled else "disabled"
    console().print(f"endpoint {endpoint_id} {done} (audit #{action_id})")

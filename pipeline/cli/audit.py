"""`wapipe audit`: who did what to the pipeline, when and why."""

import uuid
from datetime import datetime

import click
from rich.table import Table

from pipeline.bootstrap import Container
from pipeline.cli.context import (
    MOMENT,
    console,
    echo_json,
    json_option,
    pass_container,
    safe,
    short_time,
)
from pipeline.services.audit import ActionView, get_action, list_actions


@click.command("audit")
@click.option("--id", "action_id", type=int, help="Show one action and every message it touched.")
@click.option("--actor", help="Only this actor's actions.")
@click.option("--action", help="Only this kind, e.g. messages.retry, channels.pause.")
@click.option("--company", "company_id", type=click.UUID, help="Only actions on this company.")
@click.option("--message", "message_id", type=click.UUID, help="Only actions on this message.")
@click.option("--since", type=MOMENT, help="ISO 8601 or an age like 30m, 2h, 1d.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@json_option
@pass_container
def audit_command(
    container: Container,
    action_id: int | None,
    actor: str | None,
    action: str | None,
    company_id: uuid.UUID | None,
    message_id: uuid.UUID | None,
    since: datetime | None,
    limit: int,
    as_json: bool,
) -> None:
    """List operator actions, newest first."""
    if action_id is not None:
        one = get_action(container.db, action_id)
        if as_json:
            echo_json(one.as_dict())
        else:
            _show(one)
        return
    actions = list_actions(
        container.db,
        actor=actor,
        action=action,
        company_id=company_id,
        message_id=message_id,
        since=since,
        limit=limit,
    )
    if as_json:
        echo_json([a.as_dict() for a in actions])
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("#", no_wrap=True, justify="right")
    table.add_column("AT", no_wrap=True)
    table.add_column("ACTOR", no_wrap=True, overflow="ellipsis", max_width=12)
    table.add_column("ACTION", no_wrap=True)
    table.add_column("WHAT / REASON", overflow="fold", ratio=1)
    for a in actions:
        what = safe(summary(a)) + (f"\n[dim]{safe(a.reason)}[/]" if a.reason else "")
        table.add_row(str(a.id), short_time(a.at), safe(a.actor), safe(a.action), what)
    console().print(table if actions else "no operator actions")


def summary(action: ActionView) -> str:
    """The result of an action in a few words."""
    d = action.details
    if action.finished_at is None:
        state = "running or interrupted"
    elif action.action == "messages.retry":
        state = f"retried {d.get('retried', 0)}, skipped {d.get('skipped', 0)}"
    elif action.action == "dlq.replay":
        outcomes = [j["outcome"] for j in d.get("outcomes", [])]
        state = ", ".join(f"{outcomes.count(o)} {o}" for o in sorted(set(outcomes))) or "-"
    elif action.action == "dlq.purge":
        state = f"purged {d.get('purged', 0)}"
    elif action.action == "webhooks.replay":
        state = f"replayed {d.get('replayed', 0)} deliveries"
    elif action.action == "channels.pause":
        state = "paused"
    elif action.action == "channels.resume":
        state = f"{d.get('started', 0)} conversation(s) restarted"
    else:
        state = "done"
    return f"{state}; {action.company}" if action.company else state


def _show(action: ActionView) -> None:
    out = console()
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold", no_wrap=True)
    facts.add_column(overflow="fold")
    facts.add_row("action", f"#{action.id} {action.action}")
    facts.add_row("by", safe(action.actor))
    facts.add_row("at", short_time(action.at))
    facts.add_row("finished", short_time(action.finished_at) if action.finished_at else "no")
    facts.add_row("reason", safe(action.reason or "-"))
    if action.company_id:
        facts.add_row("company", f"{safe(action.company)} ({action.company_id})")
    facts.add_row("result", safe(summary(action)))
    out.print(facts)
    if action.messages:
        table = Table(title="messages", box=None, pad_edge=False, header_style="bold")
        table.add_column("MESSAGE", no_wrap=True)
        table.add_column("OUTCOME", no_wrap=True)
        table.add_column("FOUND", no_wrap=True)
        for m in action.messages:
            table.add_row(m["id"], m["outcome"], m["status"] or "-")
        out.print(table)

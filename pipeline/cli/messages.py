"""`wapipe messages list|show|retry`: what failed, why, and sending it again safely."""

import uuid
from datetime import datetime
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from pipeline.bootstrap import Container
from pipeline.cli.context import (
    MOMENT,
    RATE,
    actor_option,
    age_of,
    console,
    echo_json,
    json_option,
    parse_uuids,
    pass_container,
    reason_option,
    safe,
    short_time,
    yes_option,
)
from pipeline.domain.statuses import Status
from pipeline.provider.errors import classify_code
from pipeline.services.audit import Operator
from pipeline.services.inspection import MessageFilter, find_messages, message_story
from pipeline.services.operations import RetryPlan, plan_retry, retry_messages

STYLE = {"sending": "yellow", "sent": "cyan", "delivered": "blue", "read": "green", "failed": "red"}


def filter_options(f: Any) -> Any:
    """The filters `list` and bulk `retry` share."""
    for option in reversed(
        [
            click.option("--status", type=click.Choice([s.value for s in Status])),
            click.option("--company", "company_id", type=click.UUID, help="A company id."),
            click.option("--error-code", help="The provider's error code, e.g. 131000."),
            click.option("--since", type=MOMENT, help="Accepted at or after: ISO or 30m/2h/1d."),
            click.option("--until", type=MOMENT, help="Accepted before: ISO or 30m/2h/1d."),
            click.option("--to", help="The recipient's phone, with its country code."),
        ]
    ):
        f = option(f)
    return f


@click.group()
def messages() -> None:
    """Find, inspect and retry outbound messages."""


@messages.command("list")
@filter_options
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@json_option
@pass_container
def list_command(container: Container, as_json: bool, **filters: Any) -> None:
    """List outbound messages, newest first."""
    rows = find_messages(container.db, MessageFilter(**filters))
    if as_json:
        echo_json([row.as_dict() for row in rows])
        return
    out = console()
    if not rows:
        out.print("no messages match")
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("ID", no_wrap=True, min_width=36)
    table.add_column("STATUS", no_wrap=True)
    table.add_column("CODE", no_wrap=True, overflow="ellipsis", max_width=8)
    table.add_column("TO", no_wrap=True, overflow="ellipsis", max_width=14)
    table.add_column("COMPANY", no_wrap=True, overflow="ellipsis", ratio=1)
    table.add_column("AGE", no_wrap=True, justify="right", min_width=3)
    for row in rows:
        status = f"[{STYLE.get(row.status, '')}]{row.status}[/]"
        code = row.error_code or ""
        table.add_row(
            str(row.id), status, safe(code), row.to, safe(row.company), age_of(row.created_at)
        )
    out.print(table)
    more = (
        "; more match: narrow the filters or raise --limit" if len(rows) == filters["limit"] else ""
    )
    out.print(f"{len(rows)} message(s){more}")


@messages.command("show")
@click.argument("message_id", type=click.UUID)
@json_option
@pass_container
def show_command(container: Container, message_id: uuid.UUID, as_json: bool) -> None:
    """The whole story of one message: every status change, attempt and operator action."""
    story = message_story(container.db, message_id)
    if as_json:
        echo_json(story)
        return
    render_story(console(), story)


def render_story(out: Console, story: dict[str, Any]) -> None:
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold", no_wrap=True)
    facts.add_column(overflow="fold")
    status = story["status"]
    facts.add_row("message", story["id"])
    facts.add_row("company", f"{safe(story['company'])} ({story['company_id']})")
    facts.add_row("to", story["to"])
    facts.add_row("status", f"[{STYLE.get(status, '')}]{status}[/]")
    this_round = (
        f", {story['attempts']} since the last retry"
        if story["attempts_total"] != story["attempts"]
        else ""
    )
    facts.add_row(
        "attempts",
        f"{story['attempts_total']}{this_round} (ambiguous resends: {story['ambiguous_resends']})",
    )
    facts.add_row("wamid", safe(story["provider_message_id"] or "-"))
    if story["error"]:
        error = story["error"]
        facts.add_row("error", safe(f"{error['code']}: {error['title'] or '-'}"))
        if error["details"]:
            facts.add_row("details", safe(error["details"]))
        facts.add_row("fbtrace_id", safe(story["fbtrace_id"] or "-"))
    for name in ("created_at", "sent_at", "delivered_at", "read_at", "failed_at"):
        if story[name]:
            facts.add_row(name.removesuffix("_at"), short_time(_at(story[name])))
    if story["deleted_at"]:
        facts.add_row("deleted", short_time(_at(story["deleted_at"])))
    if story["text"]:
        facts.add_row("text", safe(story["text"][:200]))
    facts.add_row("advice", story["advice"])
    out.print(facts)

    history = Table(title="status history", box=None, pad_edge=False, header_style="bold")
    for column in ("AT", "STATUS", "SOURCE", "APPLIED"):
        history.add_column(column, no_wrap=True)
    history.add_column("DETAIL", overflow="fold")
    for h in story["history"]:
        detail = _detail(h["detail"] or {}, story["provider_message_id"])
        applied = "yes" if h["applied"] else "no"
        history.add_row(short_time(_at(h["at"])), h["status"], h["source"], applied, safe(detail))
    out.print(history)
    if not all(h["applied"] for h in story["history"]):
        out.print("[dim]applied no: a repeated or late report; it changed nothing[/]")

    if story["earlier_rounds"]:
        rounds = Table(title="before each retry", box=None, pad_edge=False, header_style="bold")
        for column in ("RETRIED", "WAMID", "LAST TIMES", "ERROR"):
            rounds.add_column(column, overflow="fold")
        for r in story["earlier_rounds"]:
            rounds.add_row(
                short_time(_at(r["retried_at"])),
                safe(r.get("provider_message_id") or "-"),
                _round_times(r),
                safe(_round_error(r)),
            )
        out.print(rounds)

    if story["attempts_log"]:
        attempts = Table(title="delivery attempts", box=None, pad_edge=False, header_style="bold")
        for column in ("#", "FINISHED", "OUTCOME", "CODE", "HTTP"):
            attempts.add_column(column, no_wrap=True)
        attempts.add_column("TITLE / FBTRACE", overflow="fold")
        for a in story["attempts_log"]:
            why = " / ".join(x for x in (a["error_title"], a["fbtrace_id"]) if x)
            attempts.add_row(
                str(a["attempt"]),
                short_time(_at(a["finished_at"])),
                a["outcome"],
                safe(a["error_code"] or ""),
                str(a["http_status"] or ""),
                safe(why),
            )
        out.print(attempts)

    if story["operator_actions"]:
        actions = Table(title="operator actions", box=None, pad_edge=False, header_style="bold")
        for column in ("AUDIT", "AT", "ACTOR", "ACTION", "OUTCOME"):
            actions.add_column(column, no_wrap=True, overflow="ellipsis")
        actions.add_column("REASON", overflow="fold")
        for a in story["operator_actions"]:
            actions.add_row(
                f"#{a['id']}",
                short_time(_at(a["at"])),
                safe(a["actor"]),
                a["action"],
                a["outcome"],
                safe(a["reason"] or ""),
            )
        out.print(actions)


def _round_times(earlier: dict[str, Any]) -> str:
    names = ("sent_at", "delivered_at", "read_at", "failed_at")
    return " ".join(
        f"{name.removesuffix('_at')} {short_time(_at(earlier[name]))}"
        for name in names
        if earlier.get(name)
    )


def _round_error(earlier: dict[str, Any]) -> str:
    if not earlier.get("error_code"):
        return "-"
    parts = [f"{earlier['error_code']}: {earlier.get('error_title') or '-'}"]
    parts += [earlier[k] for k in ("error_details", "fbtrace_id") if earlier.get(k)]
    return " / ".join(parts)


def _detail(detail: dict[str, Any], wamid: str | None) -> str:
    """A history entry's detail in a few words: where it came from, which error."""
    words = []
    for key, value in detail.items():
        if key == "operator_action":
            words.append(f"audit #{value}")
        elif key == "webhook_id" and value is not None:
            words.append(f"webhook #{value}")
        elif key == "error":
            fbtrace = f" fbtrace {value['fbtrace_id']}" if value.get("fbtrace_id") else ""
            words.append(f"error {value.get('code')}{fbtrace}")
        elif key == "previous_attempt":
            words.append("a new round (see below)")
        elif key == "earlier_attempt":
            words.append("of an attempt before a retry")
        elif key == "wamid":
            if value != wamid:  # the message's own wamid is shown above
                words.append(f"wamid {value}")
        elif key != "webhook_id":
            words.append(f"{key}={value}")
    return ", ".join(words)


def _at(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


@messages.command("retry")
@click.argument("message_ids", nargs=-1)
@filter_options
@click.option("--limit", type=click.IntRange(min=1), help="Retry at most this many.")
@click.option("--dry-run", is_flag=True, help="Show what would be retried; change nothing.")
@click.option("--rate", type=RATE, help="At most this many enqueues: 20/s, 300/m.")
@yes_option
@actor_option
@reason_option
@json_option
@pass_container
def retry_command(
    container: Container,
    message_ids: tuple[str, ...],
    dry_run: bool,
    rate: float | None,
    yes: bool,
    actor: str,
    reason: str | None,
    as_json: bool,
    **filters: Any,
) -> None:
    """Put failed messages back to `sending`: by ID, or in bulk with --status failed.

    Safe to run twice or beside the API's retry: each message goes back once; one that is
    no longer failed is skipped and listed.
    """
    narrowed = any(v is not None for k, v in filters.items() if k != "status")
    if message_ids and (narrowed or filters["status"]):
        raise click.UsageError("give message IDs or filters, not both")
    if not message_ids and filters["status"] != Status.FAILED:
        raise click.UsageError("give message IDs, or --status failed with optional filters")
    operator = Operator(actor, reason)
    ids = parse_uuids(message_ids) if message_ids else None
    where = None if ids else MessageFilter(**filters)
    plan = plan_retry(container.db, ids, where)
    if plan.not_found:
        raise click.ClickException(f"no message {plan.not_found[0]} (nothing was retried)")
    if as_json and dry_run:
        echo_json(plan.as_dict())
        return
    out = console(stderr=as_json)
    render_plan(out, plan)
    if dry_run or not plan.ids:
        return
    if not yes:
        click.confirm(f"Retry {len(plan.ids)} message(s)?", abort=True, err=True)
    details = {"filters": where.as_dict() if where else None, "ids": len(ids or []), "rate": rate}
    with Progress(
        TextColumn("retrying"), BarColumn(), MofNCompleteColumn(), console=console(stderr=True)
    ) as progress:
        task = progress.add_task("retry", total=len(plan.ids))
        result = retry_messages(
            container.db,
            container.queue,
            operator,
            plan,
            rate=rate,
            details=details,
            on_each=lambda *_: progress.advance(task),
        )
    if as_json:
        echo_json(result.as_dict())
        return
    for message_id, status in result.skipped.items():
        if message_id not in plan.skipped:
            out.print(f"skipped {message_id}: now {status}")
    counts = result.counts()
    out.print(
        f"retried {counts['retried']}, skipped {counts['skipped']}, "
        f"enqueue errors {counts['enqueue_errors']} (audit #{result.action_id})"
    )


def render_plan(out: Console, plan: RetryPlan) -> None:
    for message_id, status in plan.skipped.items():
        out.print(f"skip {message_id}: it is {status}, not failed")
    if not plan.ids:
        out.print("nothing to retry")
        return
    out.print(f"{len(plan.ids)} failed message(s) to retry:")
    for company, count in plan.by_company.most_common():
        out.print(f"  {count:>6}  {safe(company)}")
    for code, count in plan.by_error.most_common():
        kind = classify_code(int(code)).value if code.isdigit() else "wapipe"
        out.print(f"  {count:>6}  error {safe(code)} ({kind})")
    for company in sorted(plan.paused):
        out.print(f"  note: {safe(company)}'s channel is paused; its messages wait for a resume")

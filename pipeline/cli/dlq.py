"""`wapipe dlq list|show|replay|purge`: Dramatiq's dead letters, checked against PostgreSQL."""

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from pipeline.bootstrap import Container
from pipeline.cli.context import (
    actor_option,
    age_of,
    console,
    echo_json,
    json_option,
    pass_container,
    reason_option,
    safe,
    short_time,
    yes_option,
)
from pipeline.services import dlq as service
from pipeline.services.audit import Operator
from workers.broker import QUEUES

queue_option = click.option("--queue", type=click.Choice(QUEUES), help="Only this queue.")


def _select(
    container: Container, job_ids: tuple[str, ...], queue: str | None
) -> list[service.DeadJob]:
    if job_ids:
        return service.find_dead(container.broker, list(job_ids), queue)
    return service.list_dead(container.broker, queue)


def _print_jobs(out: Console, jobs: list[service.DeadJob]) -> None:
    """Two lines a job: who and what, then the last error, cut to the terminal's width."""
    out.print(Text(f"{'JOB':<8}  {'ACTOR':<15}  {'DEAD':>4}  TARGET", style="bold"))
    for job in jobs:
        head = f"{job.job_id[:8]}  {job.actor:<15}  {age_of(job.dead_at):>4}  {job.target}"
        for line, style in ((head, ""), (f"{'':10}{job.last_error or '-'}", "dim")):
            text = Text(line, style=style)
            text.truncate(out.width, overflow="ellipsis")
            out.print(text, no_wrap=True)


def _plan_table(steps: list[service.ReplayStep]) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("DO", no_wrap=True)
    table.add_column("JOB", no_wrap=True)
    table.add_column("TARGET", no_wrap=True, overflow="ellipsis")
    table.add_column("WHY", overflow="fold", ratio=1)
    for step in steps:
        table.add_row(step.action, step.job.job_id[:8], safe(step.job.target), safe(step.why))
    return table


@click.group()
def dlq() -> None:
    """Dead-lettered jobs: jobs whose retries ran out."""


@dlq.command("list")
@queue_option
@json_option
@pass_container
def list_command(container: Container, queue: str | None, as_json: bool) -> None:
    """List dead jobs, most recent first (JOB is a prefix of the job id)."""
    jobs = service.list_dead(container.broker, queue)
    if as_json:
        echo_json([job.as_dict() for job in jobs])
        return
    out = console()
    if not jobs:
        out.print("no dead jobs")
        return
    _print_jobs(out, jobs)
    out.print(f"{len(jobs)} dead job(s); `wapipe dlq replay` re-sends only what is still owed")


@dlq.command("show")
@click.argument("job_id")
@json_option
@pass_container
def show_command(container: Container, job_id: str, as_json: bool) -> None:
    """One dead job with its full traceback and what PostgreSQL says about its target."""
    [job] = service.find_dead(container.broker, [job_id])
    [step] = service.plan_replay(container.db, [job])
    if as_json:
        echo_json(job.as_dict(traceback=True) | {"replay": step.action, "why": step.why})
        return
    out = console()
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold", no_wrap=True)
    facts.add_column(overflow="fold")
    facts.add_row("job", job.job_id)
    facts.add_row("queue", job.queue)
    facts.add_row("actor", safe(f"{job.actor}({', '.join(map(repr, job.args))})"))
    facts.add_row("dramatiq id", job.message_id)
    facts.add_row("enqueued", short_time(job.enqueued_at))
    facts.add_row("dead since", f"{short_time(job.dead_at)} ({age_of(job.dead_at)} ago)")
    facts.add_row("retries", str(job.retries))
    facts.add_row("last error", safe(job.last_error or "-"))
    facts.add_row("replay would", safe(f"{step.action}: {step.why}"))
    out.print(facts)
    if job.traceback:
        out.print("[bold]traceback[/]")
        out.print(job.traceback.rstrip(), overflow="fold", markup=False)


@dlq.command("replay")
@click.argument("job_ids", nargs=-1)
@queue_option
@click.option(
    "--retry-failed/--keep-failed",
    default=None,
    help="For a job whose message has failed meanwhile: retry the message (asked if unset).",
)
@click.option("--dry-run", is_flag=True, help="Show what would happen; change nothing.")
@yes_option
@actor_option
@reason_option
@json_option
@pass_container
def replay_command(
    container: Container,
    job_ids: tuple[str, ...],
    queue: str | None,
    retry_failed: bool | None,
    dry_run: bool,
    yes: bool,
    actor: str,
    reason: str | None,
    as_json: bool,
) -> None:
    """Re-enqueue dead jobs whose work is still owed (all, or the JOBs given).

    Checks PostgreSQL first: a message already sent is never sent again (its job is
    dropped); a webhook delivery already processed is dropped too.
    """
    operator = Operator(actor, reason)
    jobs = _select(container, job_ids, queue)
    out = console(stderr=as_json)
    steps = service.plan_replay(container.db, jobs, retry_failed=bool(retry_failed))
    failed = [s for s in steps if s.status == "failed" and s.action == service.KEEP]
    offer = failed and retry_failed is None and not yes and not dry_run
    if offer and click.confirm(f"{len(failed)} job(s) of failed messages: retry them?", err=True):
        steps = service.plan_replay(container.db, jobs, retry_failed=True)
    if steps:
        out.print(_plan_table(steps))
    acting = [s for s in steps if s.action != service.KEEP]
    if dry_run or not acting:
        if as_json:
            echo_json([{"job_id": s.job.job_id, "action": s.action, "why": s.why} for s in steps])
        else:
            out.print("nothing to replay" if not acting else "dry run: nothing changed")
        return
    if not yes:
        click.confirm(f"Replay {len(acting)} dead job(s)?", abort=True, err=True)
    result = service.replay(container.db, container.broker, container.queue, operator, steps)
    if as_json:
        echo_json(result)
        return
    counts: dict[str, int] = {}
    for job in result["jobs"]:
        counts[job["outcome"]] = counts.get(job["outcome"], 0) + 1
    summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
    out.print(f"{summary} (audit #{result['action_id']})")


@dlq.command("purge")
@click.argument("job_ids", nargs=-1)
@queue_option
@yes_option
@actor_option
@reason_option
@json_option
@pass_container
def purge_command(
    container: Container,
    job_ids: tuple[str, ...],
    queue: str | None,
    yes: bool,
    actor: str,
    reason: str | None,
    as_json: bool,
) -> None:
    """Delete dead jobs for good (all, or the JOBs given); asks first."""
    operator = Operator(actor, reason)
    jobs = _select(container, job_ids, queue)
    if not jobs:
        if as_json:
            echo_json({"purged": 0})
        else:
            console().print("no dead jobs")
        return
    if not yes:
        _print_jobs(console(stderr=True), jobs)
        click.confirm(f"Delete {len(jobs)} dead job(s) for good?", abort=True, err=True)
    purged = service.purge(container.db, container.broker, operator, jobs)
    if as_json:
        echo_json({"purged": purged})
    else:
        console().print(f"purged {purged} dead job(s)")

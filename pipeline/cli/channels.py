"""`wapipe channels list|pause|resume|set-token|set-rate`: stop a company's sending, start it
again, pace it."""

import uuid
from typing import IO

import click
from rich.padding import Padding
from rich.text import Text

from pipeline.bootstrap import Container
from pipeline.cli.context import (
    actor_option,
    age_of,
    company_option,
    console,
    echo_json,
    json_option,
    pass_container,
    reason_option,
    safe,
)
from pipeline.cli.secrets import access_token_options, read_access_token
from pipeline.crypto import TokenCipher
from pipeline.services import operations
from pipeline.services.audit import Operator
from pipeline.services.channels import MAX_SEND_RATE_MPS, list_channels


@click.group()
def channels() -> None:
    """Companies' WhatsApp channels: list, pause and resume sending, set the send rate."""


@channels.command("list")
@json_option
@pass_container
def list_command(container: Container, as_json: bool) -> None:
    """Every channel, its send rate, and why it is paused if it is."""
    states = list_channels(container.db)
    if as_json:
        echo_json(
            [
                {
                    "company_id": str(s.company_id),
                    "company": s.company_name,
                    "phone_number_id": s.phone_number_id,
                    "display_phone_number": s.display_phone_number,
                    "paused_at": s.paused_at.isoformat() if s.paused_at else None,
                    "pause_code": s.pause_code,
                    "pause_reason": s.pause_reason,
                    "send_rate_mps": s.send_rate_mps,
                }
                for s in states
            ]
        )
        return
    out = console()
    if not states:
        out.print("no channels")
        return
    out.print(Text(f"{'COMPANY':<20}  {'COMPANY ID':<36}  {'RATE':>6}  STATE", style="bold"))
    for s in states:
        state = (
            "[green]sending[/]" if s.paused_at is None else f"[red]paused {age_of(s.paused_at)}[/]"
        )
        rate = f"{s.send_rate_mps}/s"
        out.print(f"{safe(f'{s.company_name[:20]:<20}')}  {s.company_id}  {rate:>6}  {state}")
        if s.paused_at is not None:
            why = Text(f"{s.pause_code}: {s.pause_reason}", style="dim")
            out.print(Padding(why, (0, 0, 0, 2)))


@channels.command("pause")
@company_option
@actor_option
@reason_option
@json_option
@pass_container
def pause_command(
    container: Container, company_id: uuid.UUID, actor: str, reason: str | None, as_json: bool
) -> None:
    """Stop sending for a company; its messages wait as `sending` until a resume."""
    action_id = operations.pause(container.db, Operator(actor, reason), company_id)
    if as_json:
        echo_json({"company_id": str(company_id), "paused": True, "action_id": action_id})
        return
    console().print(f"paused {company_id} (audit #{action_id})")


@channels.command("set-token")
@company_option
@access_token_options
@actor_option
@reason_option
@json_option
@pass_container
def set_token_command(
    container: Container,
    company_id: uuid.UUID,
    access_token: str | None,
    access_token_file: IO[str] | None,
    actor: str,
    reason: str | None,
    as_json: bool,
) -> None:
    """Replace a channel's access token, e.g. after Meta rejected it (code 190); it is
    stored encrypted and never printed."""
    token = read_access_token(access_token, access_token_file)
    cipher = TokenCipher.from_settings(container.settings)
    operator = Operator(actor, reason)
    action_id = operations.set_token(container.db, operator, company_id, token, cipher)
    if as_json:
        echo_json({"company_id": str(company_id), "token_updated": True, "action_id": action_id})
        return
    console().print(f"access token of {company_id} replaced (audit #{action_id})")


@channels.command("set-rate")
@company_option
@click.option(
    "--mps",
    "rate_mps",
    type=click.IntRange(1, MAX_SEND_RATE_MPS),
    required=True,
    help="Messages a second, all workers together (Meta's tiers: 80, then up to 1000).",
)
@actor_option
@reason_option
@json_option
@pass_container
def set_rate_command(
    container: Container,
    company_id: uuid.UUID,
    rate_mps: int,
    actor: str,
    reason: str | None,
    as_json: bool,
) -> None:
    """Set how many messages a second a channel sends; applies from the next send."""
    action_id = operations.set_rate(container.db, Operator(actor, reason), company_id, rate_mps)
    if as_json:
        echo_json(
            {"company_id": str(company_id), "send_rate_mps": rate_mps, "action_id": action_id}
        )
        return
    console().print(f"{company_id} sends up to {rate_mps} messages a second (audit #{action_id})")


@channels.command("resume")
@company_option
@actor_option
@reason_option
@json_option
@pass_container
def resume_command(
    container: Container, company_id: uuid.UUID, actor: str, reason: str | None, as_json: bool
) -> None:
    """Resume a paused channel; its waiting messages are sent in order."""
    operator = Operator(actor, reason)
    started, action_id = operations.resume(container.db, container.queue, operator, company_id)
    if as_json:
        echo_json(
            {
                "company_id": str(company_id),
                "paused": False,
                "started": started,
                "action_id": action_id,
            }
        )
        return
    console().print(
        f"resumed {company_id}: {started} conversation(s) restarted (audit #{action_id})"
    )

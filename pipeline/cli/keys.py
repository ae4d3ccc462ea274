"""`wapipe keys list|create|revoke|rotate`: a company's API keys, without a database shell."""

import uuid

import click
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
from pipeline.services import api_keys
from pipeline.services.audit import Operator

user_option = click.option("--user", "user_id", type=click.UUID, default=None)
rate_option = click.option(
    "--rate",
    type=click.IntRange(min=1),
    default=None,
    help="Requests a second for this key (burst: twice that); default WAPIPE_API_RATE_LIMIT.",
)


@click.group()
def keys() -> None:
    """A company's API keys: list, create, revoke, rotate (changes are audited)."""


@keys.command("list")
@company_option
@user_option
@json_option
@pass_container
def list_command(
    container: Container, company_id: uuid.UUID, user_id: uuid.UUID | None, as_json: bool
) -> None:
    """Every key of the company (or of one user), with when it was last used."""
    found = api_keys.list_keys(container.db, company_id, user_id)
    if as_json:
        echo_json([key.as_dict() for key in found])
        return
    out = console()
    if not found:
        out.print("no keys")
        return
    out.print(Text(f"{'KEY':<10}  {'USER':<18}  {'ROLE':<5}  {'MADE':>4}  {'USED':>4}  STATE"))
    for key in found:
        state = "live" if key.revoked_at is None else f"revoked {age_of(key.revoked_at)}"
        rate = f"  {key.rate_limit}/s" if key.rate_limit else ""
        out.print(
            f"{key.prefix:<10}  {safe(f'{key.user_name[:18]:<18}')}  {key.role:<5}  "
            f"{age_of(key.created_at):>4}  {age_of(key.last_used_at):>4}  {state}{rate}"
        )
        out.print(Text(f"  {key.id} user {key.user_id}", style="dim"))  # 80 columns


@keys.command("create")
@company_option
@user_option
@rate_option
@actor_option
@reason_option
@json_option
@pass_container
def create_command(
    container: Container,
    company_id: uuid.UUID,
    user_id: uuid.UUID | None,
    rate: int | None,
    actor: str,
    reason: str | None,
    as_json: bool,
) -> None:
    """A new key for a user (by default the company's first admin), shown once."""
    new = api_keys.create_key(container.db, Operator(actor, reason), company_id, user_id, rate)
    _show_new(new, as_json)


@keys.command("revoke")
@click.argument("key", nargs=-1)
@company_option
@user_option
@actor_option
@reason_option
@json_option
@pass_container
def revoke_command(
    container: Container,
    key: tuple[str, ...],
    company_id: uuid.UUID,
    user_id: uuid.UUID | None,
    actor: str,
    reason: str | None,
    as_json: bool,
) -> None:
    """Revoke keys by id or prefix (or every key of --user); refused everywhere within
    WAPIPE_AUTH_CACHE_SECONDS (5 s)."""
    operator = Operator(actor, reason)
    revoked, action_id = api_keys.revoke_keys(container.db, operator, company_id, key, user_id)
    if as_json:
        echo_json({"revoked": [str(k) for k in revoked], "action_id": action_id})
        return
    console().print(f"revoked {len(revoked)} key(s) (audit #{action_id})")
    for key_id in revoked:
        console().print(f"  {key_id}")


@keys.command("rotate")
@click.argument("key", required=False)
@company_option
@user_option
@rate_option
@actor_option
@reason_option
@json_option
@pass_container
def rotate_command(
    container: Container,
    key: str | None,
    company_id: uuid.UUID,
    user_id: uuid.UUID | None,
    rate: int | None,
    actor: str,
    reason: str | None,
    as_json: bool,
) -> None:
    """Replace a key (by id or prefix, or --user's only live key) with a new one for the
    same user; the old one is revoked at once."""
    operator = Operator(actor, reason)
    new = api_keys.rotate_key(container.db, operator, company_id, key, user_id, rate)
    _show_new(new, as_json)


def _show_new(new: api_keys.NewKey, as_json: bool) -> None:
    if as_json:
        echo_json(new.as_dict())
        return
    click.echo(f"key_id:  {new.id}")
    click.echo(f"user_id: {new.user_id}")
    click.echo(f"api_key: {new.api_key}")
    if new.replaced:
        click.echo(f"revoked: {new.replaced}")
    click.echo(f"Keep the API key now: it cannot be shown again (audit #{new.action_id}).")

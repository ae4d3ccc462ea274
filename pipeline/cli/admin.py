"""Schema and tenant administration: `wapipe db`, `wapipe company`, `wapipe user`."""

import json
import uuid
from collections.abc import Callable
from typing import IO, Any, TypeVar

import click

from db import migrate
from pipeline.bootstrap import Container
from pipeline.cli.context import pass_container
from pipeline.cli.secrets import access_token_options, read_access_token
from pipeline.config import get_settings
from pipeline.crypto import TokenCipher
from pipeline.services import tenants
from pipeline.services.window import WINDOW_POLICIES, set_window_policy

F = TypeVar("F", bound=Callable[..., Any])


def window_policy_option(default: str | None) -> Callable[[F], F]:
    return click.option(
        "--window-policy",
        type=click.Choice(WINDOW_POLICIES),
        default=default,
        show_default=default is not None,
        help="enforce: refuse a non-template message outside the 24-hour window (409).",
    )


@click.group()
def db() -> None:
    """Create and migrate the database."""


@db.command("create")
def db_create() -> None:
    """Create the database named in DATABASE_URL if it does not exist."""
    created = migrate.create_database(get_settings().database_url)
    click.echo("database created" if created else "database exists")


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION."""
    migrate.upgrade(get_settings().database_url, revision)
    click.echo(f"database at {revision}")


@click.group()
def company() -> None:
    """Manage companies (tenants)."""


@company.command("create")
@click.option("--name", required=True)
@click.option("--phone-number-id", required=True, help="The channel's WhatsApp phone number id.")
@access_token_options
@click.option("--display-phone-number", default=None)
@click.option("--waba-id", default=None)
@window_policy_option(default="off")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@pass_container
def company_create(
    container: Container,
    name: str,
    phone_number_id: str,
    access_token: str | None,
    access_token_file: IO[str] | None,
    display_phone_number: str | None,
    waba_id: str | None,
    window_policy: str,
    as_json: bool,
) -> None:
    """Create a company with its channel; prints its id and a new API key (shown once).

    The channel's access token is stored encrypted; without --access-token-file (or
    WAPIPE_ACCESS_TOKEN) it is asked for, hidden.
    """
    token = read_access_token(access_token, access_token_file)
    cipher = TokenCipher.from_settings(container.settings)
    new = tenants.create_company(
        container.db, name, phone_number_id, token, display_phone_number, waba_id, cipher,
        window_policy,
    )  # fmt: skip
    if as_json:
        click.echo(json.dumps({"company_id": str(new.company_id), "api_key": new.api_key}))
        return
    click.echo(f"company_id: {new.company_id}")
    click.echo(f"api_key:    {new.api_key}")
    click.echo("Keep the API key now: it is stored hashed and cannot be shown again.")


@company.command("set")
@click.option("--company", "company_id", required=True, type=click.UUID)
@window_policy_option(default=None)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@pass_container
def company_set(
    container: Container, company_id: uuid.UUID, window_policy: str | None, as_json: bool
) -> None:
    """Change a company's settings (its 24-hour window policy)."""
    if window_policy is None:
        raise click.UsageError("nothing to set: give --window-policy")
    set_window_policy(container.db, company_id, window_policy)
    if as_json:
        click.echo(json.dumps({"company_id": str(company_id), "window_policy": window_policy}))
        return
    click.echo(f"company {company_id}: window policy {window_policy}")


@click.group()
def user() -> None:
    """Manage users and their API keys."""


@user.command("create")
@click.option("--company", "company_id", required=True, type=click.UUID)
@click.option("--name", required=True)
@click.option("--role", type=click.Choice(tenants.ROLES), default="agent", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@pass_container
def user_create(
    container: Container, company_id: uuid.UUID, name: str, role: str, as_json: bool
) -> None:
    """Add a user to a company; prints its id and a new API key (shown once)."""
    user_id, api_key = tenants.create_user(container.db, company_id, name, role)
    if as_json:
        click.echo(json.dumps({"user_id": str(user_id), "api_key": api_key}))
        return
    click.echo(f"user_id: {user_id}")
    click.echo(f"api_key: {api_key}")

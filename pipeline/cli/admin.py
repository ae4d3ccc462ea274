"""Schema and tenant administration: `wapipe db`, `wapipe company`, `wapipe user`."""

import json
import uuid

import click

from db import migrate
from db.session import Database, make_engine
from pipeline.config import get_settings
from pipeline.domain.errors import WapipeError
from pipeline.services import tenants


def _database() -> Database:
    return Database(make_engine(get_settings().database_url, pool_size=1))


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
@click.option("--access-token", required=True, help="The channel's Cloud API access token.")
@click.option("--display-phone-number", default=None)
@click.option("--waba-id", default=None)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def company_create(
    name: str,
    phone_number_id: str,
    access_token: str,
    display_phone_number: str | None,
    waba_id: str | None,
    as_json: bool,
) -> None:
    """Create a company with its channel; prints its id and a new API key (shown once)."""
    try:
        new = tenants.create_company(
            _database(), name, phone_number_id, access_token, display_phone_number, waba_id
        )
    except WapipeError as exc:
        raise click.ClickException(exc.message) from None
    if as_json:
        click.echo(json.dumps({"company_id": str(new.company_id), "api_key": new.api_key}))
        return
    click.echo(f"company_id: {new.company_id}")
    click.echo(f"api_key:    {new.api_key}")
    click.echo("Keep the API key now: it is stored hashed and cannot be shown again.")


@click.group()
def user() -> None:
    """Manage users and their API keys."""


@user.command("create")
@click.option("--company", "company_id", required=True, type=click.UUID)
@click.option("--name", required=True)
@click.option("--role", type=click.Choice(tenants.ROLES), default="agent", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def user_create(company_id: uuid.UUID, name: str, role: str, as_json: bool) -> None:
    """Add a user to a company; prints its id and a new API key (shown once)."""
    try:
        user_id, api_key = tenants.create_user(_database(), company_id, name, role)
    except WapipeError as exc:
        raise click.ClickException(exc.message) from None
    if as_json:
        click.echo(json.dumps({"user_id": str(user_id), "api_key": api_key}))
        return
    click.echo(f"user_id: {user_id}")
    click.echo(f"api_key: {api_key}")

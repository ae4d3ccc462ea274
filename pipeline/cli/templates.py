"""`wapipe templates`: read a company's message templates from the provider."""

import json
import uuid

import click

from pipeline.bootstrap import Container
from pipeline.cli.context import company_option, json_option, pass_container
from pipeline.crypto import TokenCipher
from pipeline.services.template_sync import sync_templates


@click.group()
def templates() -> None:
    """Message templates (the worker also syncs them every hour)."""


@templates.command("sync")
@company_option
@json_option
@pass_container
def sync_command(container: Container, company_id: uuid.UUID, as_json: bool) -> None:
    """Read the company's templates from the provider (every page) and store them."""
    cipher = TokenCipher.from_settings(container.settings)
    report = sync_templates(container.db, container.provider, cipher, company_id)
    if as_json:
        click.echo(json.dumps(report.as_dict()))
        return
    click.echo(
        f"{report.templates} templates synced ({report.changed} changed, {report.removed} removed)"
    )

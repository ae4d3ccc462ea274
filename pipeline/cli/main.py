"""The `wapipe` command."""

import logging

import click

from pipeline.cli.admin import company, db, user
from pipeline.cli.audit import audit_command
from pipeline.cli.channels import channels
from pipeline.cli.context import CliContext, OperatorGroup
from pipeline.cli.demo import demo, up
from pipeline.cli.dlq import dlq
from pipeline.cli.endpoints import endpoints
from pipeline.cli.events import events
from pipeline.cli.fake_provider import fake_provider
from pipeline.cli.keys import keys
from pipeline.cli.messages import messages
from pipeline.cli.processes import api, worker
from pipeline.cli.secrets import secrets
from pipeline.cli.stats import stats_command
from pipeline.cli.sweep import sweep_command
from pipeline.cli.templates import templates
from pipeline.cli.webhooks import webhooks


@click.group(
    cls=OperatorGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 80},
)
@click.option("-v", "--verbose", is_flag=True, help="Log debug output.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """wapipe: a durable, multi-tenant WhatsApp delivery pipeline."""
    # The one place commands get their adapters: tests pass ``obj=CliContext(settings)``.
    ctx.call_on_close(ctx.ensure_object(CliContext).close)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)


for command in (db, company, user, api, worker, sweep_command, fake_provider, demo, up):
    cli.add_command(command)
for command in (messages, dlq, channels, stats_command, audit_command, webhooks, keys, secrets):
    cli.add_command(command)
cli.add_command(templates)
for command in (events, endpoints):
    cli.add_command(command)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()

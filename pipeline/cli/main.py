"""The `wapipe` command."""

import logging

import click

from pipeline.cli.admin import company, db, user
from pipeline.cli.demo import demo, up
from pipeline.cli.fake_provider import fake_provider
from pipeline.cli.processes import api, worker
from pipeline.cli.sweep import sweep_command


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 80})
@click.option("-v", "--verbose", is_flag=True, help="Log debug output.")
def cli(verbose: bool) -> None:
    """wapipe: a durable, multi-tenant WhatsApp delivery pipeline."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)


for command in (db, company, user, api, worker, sweep_command, fake_provider, demo, up):
    cli.add_command(command)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()

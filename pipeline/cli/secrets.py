"""`wapipe secrets rotate|generate-key`, and how commands take an access token safely."""

from collections.abc import Callable
from typing import IO, Any, TypeVar

import click

from pipeline.bootstrap import Container
from pipeline.cli.context import actor_option, echo_json, json_option, pass_container, reason_option
from pipeline.crypto import TokenCipher, new_key
from pipeline.services.audit import Operator, record_action
from pipeline.services.channels import reencrypt_tokens

F = TypeVar("F", bound=Callable[..., Any])


def access_token_options(f: F) -> F:
    """--access-token-file and --access-token; neither given: a hidden prompt."""
    f = click.option(
        "--access-token-file",
        type=click.File("r"),
        default=None,
        help="Read the access token from this file ('-': standard input).",
    )(f)
    return click.option(
        "--access-token",
        envvar="WAPIPE_ACCESS_TOKEN",
        default=None,
        help="Shows in `ps` and shell history: prefer the file, WAPIPE_ACCESS_TOKEN, or the "
        "prompt (hidden) you get when neither is given.",
    )(f)


def read_access_token(access_token: str | None, access_token_file: IO[str] | None) -> str:
    if access_token and access_token_file is not None:
        raise click.UsageError("give --access-token or --access-token-file, not both")
    if access_token_file is not None:
        token = access_token_file.read()
    elif access_token:
        token = access_token
    else:
        token = click.prompt("Access token", hide_input=True, err=True)
    if not token.strip():
        raise click.UsageError("the access token is empty")
    return token.strip()


@click.group()
def secrets() -> None:
    """Keys that encrypt channel access tokens at rest (WAPIPE_SECRET_KEY)."""


@secrets.command("generate-key")
def generate_key_command() -> None:
    """Print a new key for WAPIPE_SECRET_KEY (put it first to rotate, then `rotate`)."""
    click.echo(new_key())


@secrets.command("rotate")
@actor_option
@reason_option
@json_option
@pass_container
def rotate_command(container: Container, actor: str, reason: str | None, as_json: bool) -> None:
    """Re-encrypt every access token with the first key of WAPIPE_SECRET_KEY.

    Every key listed still decrypts; once this is done, the older keys can be removed.
    Tokens stored in plain text (from before encryption) are encrypted.
    """
    operator = Operator(actor, reason)
    done = reencrypt_tokens(container.db, TokenCipher.from_settings(container.settings))
    details = {"channels": done.channels, "were_plain": done.were_plain}
    action_id = record_action(container.db, operator, "secrets.rotate", details)
    if as_json:
        echo_json({**details, "action_id": action_id})
        return
    click.echo(f"re-encrypted {done.channels} access token(s) under the first key")
    click.echo(f"{done.were_plain} of them were in plain text (audit #{action_id})")

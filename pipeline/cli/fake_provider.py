"""`wapipe fake-provider`: run the fake WhatsApp Cloud API until SIGINT/SIGTERM."""

from __future__ import annotations

import logging

import click

from fakeprovider import FakeConfig, FakeProvider, serve
from fakeprovider.server import ChannelSpec

_RATE = click.FloatRange(0.0, 1.0)


def parse_channel(value: str) -> ChannelSpec:
    """``PNID=TOKEN`` or ``PNID=TOKEN=DISPLAY``; errors never echo the value (it has a token)."""
    parts = value.split("=", 2)
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise click.BadParameter("expected PNID=TOKEN or PNID=TOKEN=DISPLAY")
    return parts[0], parts[1], parts[2] if len(parts) == 3 else ""


def parse_codes(value: str) -> list[int]:
    try:
        codes = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter("expected a comma-separated list of integers") from None
    if not codes:
        raise click.BadParameter("expected at least one error code")
    return codes


def _channels(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> list[ChannelSpec]:
    return [parse_channel(v) for v in values]


def _codes(ctx: click.Context, param: click.Parameter, value: str) -> list[int]:
    return parse_codes(value)


@click.command("fake-provider")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8090, show_default=True, type=int)
@click.option("--webhook-url", default="http://127.0.0.1:8000/webhooks/whatsapp", show_default=True)
@click.option("--app-secret", envvar="WHATSAPP_APP_SECRET", default="dev-app-secret")
@click.option(
    "--channel",
    "channels",
    multiple=True,
    callback=_channels,
    help="PNID=TOKEN[=DISPLAY], repeatable.",
)
@click.option("--latency-ms", default=0, type=click.IntRange(min=0), show_default=True)
@click.option("--error-rate", default=0.0, type=_RATE, show_default=True)
@click.option("--error-codes", default="131000", callback=_codes, show_default=True)
@click.option("--timeout-rate", default=0.0, type=_RATE, show_default=True)
@click.option("--timeout-seconds", default=30.0, type=click.FloatRange(min=0), show_default=True)
@click.option("--reorder/--no-reorder", default=False, show_default=True)
@click.option("--duplicate-rate", default=0.0, type=_RATE, show_default=True)
@click.option("--batch/--no-batch", default=False, show_default=True)
@click.option("--status-delay-ms", default=200, type=click.IntRange(min=0), show_default=True)
@click.option("--fail-rate", default=0.0, type=_RATE, show_default=True)
@click.option("--accept-any-token", is_flag=True, help="Accept any non-empty token for any id.")
@click.option("--no-statuses", is_flag=True, help="Do not send status webhooks.")
def fake_provider(
    host: str,
    port: int,
    webhook_url: str,
    app_secret: str,
    channels: list[ChannelSpec],
    latency_ms: int,
    error_rate: float,
    error_codes: list[int],
    timeout_rate: float,
    timeout_seconds: float,
    reorder: bool,
    duplicate_rate: float,
    batch: bool,
    status_delay_ms: int,
    fail_rate: float,
    accept_any_token: bool,
    no_statuses: bool,
) -> None:
    """Run a fake WhatsApp Cloud API that answers sends and posts signed status webhooks."""
    # No-op when the wapipe group already configured logging; webhook failures must show.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = FakeConfig(
        latency_ms=latency_ms,
        error_rate=error_rate,
        error_codes=error_codes,
        timeout_rate=timeout_rate,
        timeout_seconds=timeout_seconds,
        reorder=reorder,
        duplicate_rate=duplicate_rate,
        batch=batch,
        status_delay_ms=status_delay_ms,
        send_statuses=not no_statuses,
        fail_rate=fail_rate,
        accept_any_token=accept_any_token,
        webhook_url=webhook_url,
        app_secret=app_secret,
    )

    def ready(provider: FakeProvider) -> None:
        target = webhook_url if webhook_url and not no_statuses else "none"
        click.echo(f"fake WhatsApp provider on {provider.url} (webhooks -> {target})")

    try:
        serve(config, host, port, channels, on_ready=ready)
    except OSError as exc:  # typically the port is taken; a traceback would only add noise
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from exc

"""`wapipe demo` sends a batch and shows it advance; `wapipe up` runs the whole pipeline."""

import signal
import time
from types import FrameType
from typing import Any

import click
import httpx
from rich.console import Console
from rich.live import Live
from rich.table import Table

from pipeline.cli.demo_content import customer_writes, image_message, template_message
from pipeline.cli.stack import DEMO_PHONE_NUMBER_ID, Stack, StackPorts

TERMINAL = {"read", "failed"}
_STYLE = {
    "sending": "yellow",
    "sent": "cyan",
    "delivered": "blue",
    "read": "green",
    "failed": "red",
}


def demo_phone(i: int) -> str:
    return f"+1 (650) 555-01{i % 100:02d}"


def _table(rows: dict[str, dict[str, str]]) -> Table:
    table = Table(title="wapipe demo: messages advancing", min_width=60)
    for column in ("message id", "to", "status", "wamid"):
        table.add_column(column)
    for message_id, row in rows.items():
        status = row["status"]
        style = _STYLE.get(status, "")
        table.add_row(message_id[:8], row["to"], f"[{style}]{status}[/]", row["wamid"][-14:])
    return table


def run_demo(
    api_url: str,
    api_key: str,
    count: int,
    timeout: float,
    console: Console,
    typed: bool = False,
) -> bool:
    """Send ``count`` messages and show their statuses live; True if all reached `read`.
    ``typed``: the last two are a template message and an uploaded image (the demo
    company of `wapipe up` has the template)."""
    headers = {"Authorization": f"Bearer {api_key}"}
    rows: dict[str, dict[str, str]] = {}
    with httpx.Client(base_url=api_url, headers=headers, timeout=10) as http:
        for i in range(count):
            body = _demo_message(http, i, count, typed)
            response = http.post("/v1/messages", json=body)
            response.raise_for_status()
            rows[response.json()["id"]] = {"to": body["to"], "status": "sending", "wamid": ""}
        deadline = time.monotonic() + timeout
        with Live(_table(rows), console=console, refresh_per_second=8) as live:
            while time.monotonic() < deadline:
                for message_id, row in rows.items():
                    if row["status"] not in TERMINAL:
                        message = http.get(f"/v1/messages/{message_id}").json()
                        row["status"] = message["status"]
                        row["wamid"] = message["provider_message_id"] or ""
                live.update(_table(rows))
                if all(row["status"] in TERMINAL for row in rows.values()):
                    break
                time.sleep(0.25)
    reached = sum(row["status"] == "read" for row in rows.values())
    console.print(f"{reached}/{count} messages reached [green]read[/].")
    return reached == count


def _demo_message(http: httpx.Client, i: int, count: int, typed: bool) -> dict[str, Any]:
    if typed and i == count - 2:
        return template_message(demo_phone(i), "Ada")
    if typed and i == count - 1:
        return image_message(http, demo_phone(i))
    return {"to": demo_phone(i), "text": f"Hello #{i + 1} from wapipe"}


def print_inbox(console: Console, api_url: str, api_key: str) -> None:
    console.print(
        f"\n[bold]Inbox[/]: {api_url}/inbox  (sign in with the API key {api_key})",
        soft_wrap=True,
        highlight=False,
    )


def print_try_it(console: Console, api_url: str, api_key: str) -> None:
    print_inbox(console, api_url, api_key)
    console.print("\nTry it yourself:")
    console.print(
        f"  curl -s -X POST {api_url}/v1/messages -H 'Authorization: Bearer {api_key}' "
        "-H 'Content-Type: application/json' "
        """-d '{"to": "+1 650 555 0142", "text": "Hello from curl"}'""",
        soft_wrap=True,
        highlight=False,
    )
    console.print(
        f"  curl -s {api_url}/v1/messages/<id> -H 'Authorization: Bearer {api_key}'",
        soft_wrap=True,
        highlight=False,
    )
    console.print(
        f"  curl -s -X POST {api_url}/v1/messages -H 'Authorization: Bearer {api_key}' "
        "-H 'Content-Type: application/json' "
        """-d '{"to": "+1 650 555 0142", "type": "template", "template": {"name": """
        """"order_update", "language": {"code": "en_US"}, "components": [{"type": "body", """
        """"parameters": [{"type": "text", "text": "Ada"}]}]}}'""",
        soft_wrap=True,
        highlight=False,
    )


@click.command()
@click.option("--api-url", default="http://127.0.0.1:8000", show_default=True)
@click.option("--api-key", envvar="WAPIPE_API_KEY", required=True, help="Or WAPIPE_API_KEY.")
@click.option("--count", default=10, show_default=True)
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait for `read`.")
def demo(api_url: str, api_key: str, count: int, timeout: float) -> None:
    """Send a batch of messages and show their statuses advance live."""
    console = Console()
    if not run_demo(api_url, api_key, count, timeout, console):
        raise SystemExit(1)
    print_try_it(console, api_url, api_key)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@click.command()
@click.option("--api-port", default=8000, show_default=True)
@click.option("--fake-port", default=8090, show_default=True)
@click.option("--count", default=10, show_default=True, help="Messages in the demo batch.")
@click.option("--demo/--no-demo", "with_demo", default=True, show_default=True)
def up(api_port: int, fake_port: int, count: int, with_demo: bool) -> None:
    """Run the whole pipeline (API, workers, fake provider) and a demo; Ctrl-C stops it."""
    console = Console()
    # SIGTERM (a supervisor, `timeout`, `kill`) stops the children just as Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        with Stack(StackPorts(api=api_port, fake=fake_port), console) as stack:
            api_key = stack.start()
            if with_demo:
                # Open the inbox now to watch the batch's ticks advance live.
                print_inbox(console, stack.api_url, api_key)
                run_demo(stack.api_url, api_key, count, 60.0, console, typed=count >= 2)
                # And a customer writes back: an unread conversation in the inbox.
                customer_writes(stack.fake_url, DEMO_PHONE_NUMBER_ID, demo_phone(0), "Ada")
            print_try_it(console, stack.api_url, api_key)
            console.print(f"\nLogs in {stack.log_dir}. Press Ctrl-C to stop.")
            stack.wait()
    except KeyboardInterrupt:
        console.print("\nstopped")

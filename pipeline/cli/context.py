"""What every operator command shares: the container, error mapping, output and parsing."""

import getpass
import json
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import update_wrapper
from typing import Any, TypeVar

import click
import redis
from rich.console import Console
from rich.markup import escape
from sqlalchemy.exc import OperationalError

from pipeline.bootstrap import Container, bootstrap
from pipeline.config import Settings
from pipeline.domain.errors import WapipeError

R = TypeVar("R")


class CliContext:
    """``ctx.obj`` of the `wapipe` group: builds the Container on first use, closes it at exit.

    Tests pass their own Settings here (``runner.invoke(cli, ..., obj=CliContext(settings))``);
    the real command reads them from the environment.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings
        self._container: Container | None = None

    @property
    def container(self) -> Container:
        if self._container is None:
            self._container = bootstrap(self.settings)
        return self._container

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            # Broker.close() is a no-op for Redis: release the pool's sockets ourselves.
            self._container.broker.client.close()
            self._container = None


class OperatorGroup(click.Group):
    """The root group: a domain or connection error ends a command with one line, exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except WapipeError as exc:
            raise click.ClickException(exc.message) from None
        except OperationalError as exc:
            raise click.ClickException(f"PostgreSQL: {_gist(exc.orig or exc, ': ')}") from None
        except redis.RedisError as exc:
            raise click.ClickException(f"Redis: {_gist(exc, '. ')}") from None


def _gist(exc: BaseException, separator: str) -> str:
    """The end of a driver's first line (`Connection refused`), short enough for one line.

    The drivers put the host first and the cause last; neither prints a password.
    """
    lines = str(exc).strip().splitlines()
    gist = lines[0].rstrip(".").split(separator)[-1].strip() if lines else ""
    gist = gist or type(exc).__name__
    return gist if len(gist) <= 64 else gist[:63] + "…"


def pass_container(f: Callable[..., R]) -> Callable[..., R]:
    """Give a command the Container of the `wapipe` group's context, as its first argument."""

    def wrapper(*args: Any, **kwargs: Any) -> R:
        ctx = click.get_current_context()
        return f(ctx.ensure_object(CliContext).container, *args, **kwargs)

    return update_wrapper(wrapper, f)


def console(stderr: bool = False) -> Console:
    # Made per command, so it writes to whatever stdout is now (click's runner swaps it).
    # A non-terminal gets 80 columns unless COLUMNS says otherwise.
    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def safe(value: object) -> str:
    """A value from the outside world (a name, a reason, a provider's text) shown as is:
    brackets in it must not be read as rich markup."""
    return escape(str(value))


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, default=str))


def default_actor() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name (a container without /etc/passwd entry)
        return "unknown"


actor_option = click.option(
    "--actor",
    envvar="WAPIPE_ACTOR",
    default=default_actor,
    show_default="the OS user",
    help="Who is acting, for the audit trail (or WAPIPE_ACTOR).",
)
reason_option = click.option("--reason", default=None, help="Why, for the audit trail.")
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
company_option = click.option("--company", "company_id", type=click.UUID, required=True)
yes_option = click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")

_AGO = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_AGO_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class Moment(click.ParamType[datetime, Any]):
    """A point in time: ISO 8601 (naive means local time) or an age such as 30m, 2h, 1d."""

    name = "TIME"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            return value
        match = _AGO.match(str(value))
        if match is not None:
            ago = timedelta(**{_AGO_UNITS[match.group(2)]: float(match.group(1))})
            return datetime.now(UTC) - ago
        try:
            return datetime.fromisoformat(str(value)).astimezone(UTC)
        except ValueError:
            self.fail(f"{value!r} is neither ISO 8601 nor an age like 30m, 2h, 1d", param, ctx)


class Rate(click.ParamType[float, Any]):
    """Operations per second: `10`, `10/s`, `300/m`."""

    name = "N/s"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, float):
            return value
        text = str(value).strip().lower()
        per = 60.0 if text.endswith("/m") else 1.0
        number = text.removesuffix("/s").removesuffix("/m")
        try:
            rate = float(number) / per
        except ValueError:
            self.fail(f"{value!r} is not a rate like 20/s or 300/m", param, ctx)
        if rate <= 0:
            self.fail("the rate must be positive", param, ctx)
        return rate


MOMENT = Moment()
RATE = Rate()


def short_time(value: datetime | None) -> str:
    """A timestamp an operator can read in a narrow column: UTC, to the second."""
    if value is None:
        return "-"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def age(seconds: float | None) -> str:
    """45s, 12m, 3h, 2d."""
    if seconds is None:
        return "-"
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def age_of(value: datetime | None, now: datetime | None = None) -> str:
    if value is None:
        return "-"
    return age(((now or datetime.now(UTC)) - value).total_seconds())


def parse_uuids(values: tuple[str, ...], what: str = "message id") -> list[uuid.UUID]:
    ids = []
    for value in values:
        try:
            ids.append(uuid.UUID(value))
        except ValueError:
            raise click.BadParameter(f"{value!r} is not a {what}") from None
    return ids

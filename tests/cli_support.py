"""Driving the `wapipe` command in-process through click's runner, as an operator would."""

import json
import traceback
from dataclasses import dataclass
from typing import Any

from click.testing import CliRunner, Result

from pipeline.cli.context import CliContext
from pipeline.cli.main import cli
from pipeline.config import Settings

WIDTH = 80


def flat(text: str) -> str:
    """Output with its line wrapping undone, to look for a phrase a table may have wrapped."""
    return " ".join(text.split())


@dataclass(frozen=True)
class Wapipe:
    """Runs `wapipe ARGS` against the given settings in an 80-column, non-tty terminal."""

    settings: Settings

    def __call__(self, *args: str, input: str | None = None, code: int = 0) -> Result:
        runner = CliRunner(env={"COLUMNS": str(WIDTH), "WAPIPE_ACTOR": "tester"})
        result = runner.invoke(
            cli, list(args), obj=CliContext(self.settings), input=input, terminal_width=WIDTH
        )
        if result.exit_code != code:
            trace = "".join(traceback.format_exception(*result.exc_info)) if result.exc_info else ""
            raise AssertionError(
                f"wapipe {' '.join(args)} exited {result.exit_code}, not {code}:\n"
                f"{result.output}\n{trace}"
            )
        if "--json" not in args:
            too_wide = [line for line in result.output.splitlines() if len(line) > WIDTH]
            assert not too_wide, f"lines wider than {WIDTH} columns: {too_wide}"
        if code:
            assert "Traceback" not in result.output
        return result

    def json(self, *args: str, input: str | None = None) -> Any:
        return json.loads(self(*args, "--json", input=input).stdout)

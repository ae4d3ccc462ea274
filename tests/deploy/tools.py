"""Where deploy/ lives and the validators `make deploy-tools` installs (deploy/tools/)."""

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
VENV_BIN = Path(sys.executable).parent

# The metric names issue 13 made a contract for dashboards and alerts.
CONTRACT_METRICS = frozenset(
    {
        "wapipe_http_requests_total",
        "wapipe_http_request_seconds",
        "wapipe_messages_accepted_total",
        "wapipe_status_changes_total",
        "wapipe_provider_requests_total",
        "wapipe_provider_request_seconds",
        "wapipe_time_to_status_seconds",
        "wapipe_queue_depth",
        "wapipe_oldest_sending_seconds",
        "wapipe_webhook_backlog",
        "wapipe_channels_paused",
        "wapipe_ambiguous_resends_total",
        "wapipe_dead_letters",
    }
)


def tool(name: str) -> str:
    """The validator's path; a clear failure (not a skip) when it is missing: CI installs it."""
    found = VENV_BIN / name
    if found.exists():
        return str(found)
    path = shutil.which(name)
    assert path, f"{name} is not installed: run `make deploy-tools`"
    return path


def run(
    *argv: str, cwd: Path = ROOT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def load_all(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]

"""The Dockerfile and the systemd units: what they promise an operator, read from the files
(and `systemd-analyze verify` for the units; the image itself needs a Docker engine)."""

import configparser
import re
import shlex
import tomllib
from pathlib import Path

from tests.deploy.tools import DEPLOY, ROOT, run, tool

SYSTEMD = DEPLOY / "systemd"
UNITS = ("wapipe-migrate.service", "wapipe-api.service", "wapipe-worker.service")


def final_stage() -> list[str]:
    lines = (ROOT / "Dockerfile").read_text().replace("\\\n", " ").splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("FROM ")]
    return [line for line in lines[starts[-1] :] if line.strip() and not line.startswith("#")]


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(SYSTEMD / name)
    return parser


def test_the_image_runs_as_a_non_root_user_with_a_health_check() -> None:
    stage = final_stage()
    [user] = [line.split()[1] for line in stage if line.startswith("USER ")]
    assert user.split(":")[0] not in {"root", "0"}
    assert any(line.startswith("HEALTHCHECK ") for line in stage)
    assert "WAPIPE_HEALTHCHECK_URL" in " ".join(stage)


def test_the_image_carries_every_package_the_project_installs() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in config["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = set(re.findall(r"^COPY (\w+) \1$", (ROOT / "Dockerfile").read_text(), re.M))
    assert packages <= copied, packages - copied


def test_no_secret_is_baked_into_the_image() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert not re.search(r"^(ENV|ARG)\b.*(SECRET|TOKEN|PASSWORD|DATABASE_URL)", text, re.M)


def test_api_and_worker_start_only_after_the_migration() -> None:
    migrate = unit("wapipe-migrate.service")["Service"]
    assert migrate["Type"] == "oneshot"
    assert migrate["RemainAfterExit"] == "yes"
    assert shlex.split(migrate["ExecStart"])[1:] == ["db", "upgrade"]
    for name in ("wapipe-api.service", "wapipe-worker.service"):
        section = unit(name)["Unit"]
        assert "wapipe-migrate.service" in section["Requires"].split(), name
        assert "wapipe-migrate.service" in section["After"].split(), name
        assert unit(name)["Service"]["Restart"] == "always"
    worker = shlex.split(unit("wapipe-worker.service")["Service"]["ExecStart"])
    assert worker[1:2] == ["worker"]
    assert "--metrics-port" in worker
    assert not list(SYSTEMD.glob("*sweep*")), "the leading worker sweeps: no sweeper unit"


def test_systemd_accepts_the_units() -> None:
    done = run(tool("systemd-analyze"), "verify", "--man=no", *UNITS, cwd=SYSTEMD)
    # The one complaint allowed (and its exit status 1): wapipe is not in /opt/wapipe here.
    complaints = [
        line
        for line in (done.stdout + done.stderr).splitlines()
        if line.strip() and "/opt/wapipe/.venv/bin/wapipe is not executable" not in line
    ]
    assert complaints == []


def test_systemd_analyze_reports_a_broken_unit(tmp_path: Path) -> None:
    broken = tmp_path / "broken.service"
    broken.write_text("[Service]\nExecStrat=/bin/true\nRestart=sometimes\n")
    done = run(tool("systemd-analyze"), "verify", "--man=no", str(broken), cwd=tmp_path)
    assert "Unknown key" in done.stderr or "Failed to parse" in done.stderr

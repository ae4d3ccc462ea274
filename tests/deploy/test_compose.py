"""deploy/docker-compose.yml, checked by Docker Compose itself (`docker compose config`)."""

import json
import os
from pathlib import Path
from typing import Any

import pytest

from pipeline.config import Settings
from pipeline.startup import insecure_reason
from tests.deploy.tools import DEPLOY, run, tool

COMPOSE_FILE = DEPLOY / "docker-compose.yml"
BASE_SERVICES = {"postgres", "redis", "migrate", "api", "worker"}


def compose_config(compose_file: Path, *profiles: str) -> Any:
    # The operator's variables must not leak in from the shell that runs the tests.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WAPIPE_", "POSTGRES_"))}
    argv = [tool("docker-compose"), "-f", str(compose_file)]
    for profile in profiles:
        argv += ["--profile", profile]
    done = run(*argv, "config", "--format", "json", env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["services"]


def env_file(name: str) -> dict[str, str]:
    pairs = {}
    for line in (DEPLOY / name).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key] = value
    return pairs


def test_without_a_profile_compose_runs_the_pipeline_and_nothing_else() -> None:
    assert set(compose_config(COMPOSE_FILE)) == BASE_SERVICES


def test_profiles_add_the_fake_provider_and_demo_or_prometheus_and_grafana() -> None:
    assert set(compose_config(COMPOSE_FILE, "demo")) == BASE_SERVICES | {"fakeprovider", "demo"}
    monitoring = compose_config(COMPOSE_FILE, "monitoring")
    assert set(monitoring) == BASE_SERVICES | {"prometheus", "grafana"}
    mounts = {m["target"] for m in monitoring["prometheus"]["volumes"]}
    assert "/etc/prometheus" in mounts


def test_the_stack_starts_in_order_of_health() -> None:
    services = compose_config(COMPOSE_FILE, "demo", "monitoring")
    assert services["postgres"]["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert any(v["type"] == "volume" for v in services["postgres"]["volumes"])
    assert services["migrate"]["command"] == ["wapipe", "db", "upgrade"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("api", "worker"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["redis"]["condition"] == "service_healthy", name
    assert "--metrics-port" in services["worker"]["command"]
    # The image's HEALTHCHECK probes this URL: each process is probed where it answers.
    assert services["worker"]["environment"]["WAPIPE_HEALTHCHECK_URL"].endswith(":9191/healthz")
    assert services["fakeprovider"]["environment"]["WAPIPE_HEALTHCHECK_URL"].endswith(
        ":8090/_fake/healthz"
    )
    for name in ("api", "worker", "fakeprovider"):
        assert services["demo"]["depends_on"][name]["condition"] == "service_healthy"


def test_demo_settings_let_the_api_start_and_point_at_the_fake_container() -> None:
    demo = env_file("demo.env")
    settings = Settings(**{key.lower(): value for key, value in demo.items()})
    assert insecure_reason(settings) is None
    services = compose_config(COMPOSE_FILE, "demo")
    fake_argv = services["fakeprovider"]["command"]
    assert "--port=8090" in fake_argv
    assert demo["WHATSAPP_API_BASE_URL"] == "http://fakeprovider:8090/v21.0"
    assert "--webhook-url=http://api:8000/webhooks/whatsapp" in fake_argv


def test_the_example_env_file_is_refused_until_its_secrets_are_set() -> None:
    example = env_file("wapipe.env.example")
    reason = insecure_reason(Settings(**{key.lower(): value for key, value in example.items()}))
    assert reason is not None
    # With a real key, the published placeholders are still named.
    example["WAPIPE_SECRET_KEY"] = env_file("demo.env")["WAPIPE_SECRET_KEY"]
    reason = insecure_reason(Settings(**{key.lower(): value for key, value in example.items()}))
    assert reason is not None
    assert "WHATSAPP_APP_SECRET, WHATSAPP_VERIFY_TOKEN" in reason


@pytest.mark.parametrize(
    ("mistake", "complaint"),
    [
        ("depends_on: {nowhere: {condition: service_healthy}}", "nowhere"),
        ("healthcheck: {test: 42}", "healthcheck"),
    ],
)
def test_compose_config_rejects_a_broken_file(tmp_path: Path, mistake: str, complaint: str) -> None:
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(f"services:\n  api:\n    image: wapipe\n    {mistake}\n")
    done = run(tool("docker-compose"), "-f", str(broken), "config", "--quiet")
    assert done.returncode != 0
    assert complaint in done.stderr

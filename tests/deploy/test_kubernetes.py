"""deploy/k8s: rendered by kustomize, validated against the Kubernetes schemas (strict)."""

import functools
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.deploy.tools import DEPLOY, load_all, run, tool

K8S = DEPLOY / "k8s"
# The oldest Kubernetes still commonly run, and the newest the schemas know.
VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
Resources = dict[tuple[str, str], dict[str, Any]]


@functools.cache  # read-only for the tests; a test that changes a resource copies it
def render(overlay: str) -> Resources:
    done = run(tool("kubectl"), "kustomize", str(K8S / overlay))
    assert done.returncode == 0, done.stderr
    return {(doc["kind"], doc["metadata"]["name"]): doc for doc in load_all(done.stdout)}


def pod_spec(resources: Resources, kind: str, name: str) -> dict[str, Any]:
    spec: dict[str, Any] = resources[(kind, name)]["spec"]["template"]["spec"]
    return spec


@pytest.mark.parametrize("overlay", ["base", "overlays/production"])
@pytest.mark.parametrize("version", VERSIONS)
def test_manifests_are_valid_kubernetes(overlay: str, version: str) -> None:
    for (kind, name), doc in render(overlay).items():
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{overlay}: {kind}/{name}: {error.message} at {list(error.path)}")


def test_the_secret_template_is_a_valid_secret_of_placeholders_only() -> None:
    [secret] = load_all((K8S / "base" / "secret.template.yaml").read_text())
    kubernetes_validate.validate(secret, VERSIONS[0], strict=True)
    assert set(secret["stringData"]) == {
        "DATABASE_URL",
        "WHATSAPP_APP_SECRET",
        "WHATSAPP_VERIFY_TOKEN",
        "WAPIPE_SECRET_KEY",
    }
    assert all("change-me" in value for value in secret["stringData"].values())


@pytest.mark.parametrize(
    "mistake",
    [
        {"spec": {"replicas": "two"}},  # a wrong type
        {"spec": {"replica": 2}},  # a misspelt field, caught by strict validation
    ],
)
def test_schema_validation_rejects_a_broken_deployment(mistake: dict[str, Any]) -> None:
    api = render("base")[("Deployment", "wapipe-api")]
    broken = yaml.safe_load(yaml.safe_dump(api))
    broken["spec"].update(mistake["spec"])
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSIONS[0], strict=True)


def test_kustomize_rejects_a_missing_resource(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: [nowhere.yaml]\n")
    assert run(tool("kubectl"), "kustomize", str(tmp_path)).returncode != 0


def test_api_and_worker_are_probed_where_they_answer() -> None:
    resources = render("overlays/production")
    [api] = pod_spec(resources, "Deployment", "wapipe-api")["containers"]
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api["ports"][0]["containerPort"] == 8000
    [worker] = pod_spec(resources, "Deployment", "wapipe-worker")["containers"]
    assert worker["command"][:2] == ["wapipe", "worker"]
    port = int(worker["command"][worker["command"].index("--metrics-port") + 1])
    assert worker["ports"][0] == {"name": "metrics", "containerPort": port}
    assert worker["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}


def test_production_scales_the_api_and_budgets_disruptions() -> None:
    resources = render("overlays/production")
    hpa = resources[("HorizontalPodAutoscaler", "wapipe-api")]["spec"]
    assert ("Deployment", hpa["scaleTargetRef"]["name"]) in resources
    assert hpa["minReplicas"] >= 2
    # The autoscaler owns the count: a fixed one would be reset on every apply.
    assert "replicas" not in resources[("Deployment", "wapipe-api")]["spec"]
    for name in ("wapipe-api", "wapipe-worker"):
        budget = resources[("PodDisruptionBudget", name)]["spec"]
        pod_labels = resources[("Deployment", name)]["spec"]["template"]["metadata"]["labels"]
        assert budget["selector"]["matchLabels"].items() <= pod_labels.items(), name
    assert {doc["metadata"].get("namespace") for doc in resources.values()} - {None} == {"wapipe"}


def test_every_pod_runs_as_non_root_and_waits_for_the_migration() -> None:
    resources = render("overlays/production")
    job = pod_spec(resources, "Job", "wapipe-migrate")
    assert job["containers"][0]["command"] == ["wapipe", "db", "upgrade"]
    for kind, name in [("Deployment", "wapipe-api"), ("Deployment", "wapipe-worker")]:
        spec = pod_spec(resources, kind, name)
        assert spec["securityContext"]["runAsNonRoot"] is True
        [init] = spec["initContainers"]
        assert init["command"][-1].endswith("wait_for_schema.py")
        scripts = next(v for v in spec["volumes"] if v["name"] == "scripts")
        assert ("ConfigMap", scripts["configMap"]["name"]) in resources
    for kind, name in [
        ("Deployment", "wapipe-api"),
        ("Deployment", "wapipe-worker"),
        ("Job", "wapipe-migrate"),
    ]:
        for container in pod_spec(resources, kind, name)["containers"]:
            sources = {next(iter(s.values()))["name"] for s in container["envFrom"]}
            assert sources == {"wapipe-config", "wapipe-secrets"}, name
            assert container["securityContext"]["allowPrivilegeEscalation"] is False

"""deploy/prometheus and deploy/grafana, checked by promtool: the alert rules (and their unit
tests), the scrape configuration, and every query of the dashboard."""

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.tools import CONTRACT_METRICS, DEPLOY, ROOT, run, tool

PROMETHEUS = DEPLOY / "prometheus"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "wapipe.json"
METRIC = re.compile(r"\bwapipe_[a-z_]+")
# What issue 13 asks to alert on, and the metric each alert reads.
REQUIRED_ALERTS = {
    "WapipeOldestSendingTooOld": "wapipe_oldest_sending_seconds",
    "WapipeDeadLetters": "wapipe_dead_letters",
    "WapipeChannelPaused": "wapipe_channels_paused",
    "WapipeWebhookBacklogGrowing": "wapipe_webhook_backlog",
    "WapipeWorkerDown": 'up{job="wapipe-worker"}',
}


def alert_rules() -> dict[str, dict[str, Any]]:
    groups = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
    return {rule["alert"]: rule for group in groups for rule in group["rules"]}


def dashboard_queries() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel.get("targets", [])]


def contract_name(series: str) -> str:
    """A histogram's series are its name plus _bucket, _sum or _count."""
    return re.sub(r"_(bucket|sum|count)$", "", series)


def test_alert_rules_and_scrape_config_pass_promtool() -> None:
    for argv in (("check", "rules", "alerts.yml"), ("check", "config", "prometheus.yml")):
        done = run(tool("promtool"), *argv, cwd=PROMETHEUS)
        assert done.returncode == 0, done.stdout + done.stderr


def test_each_alert_fires_when_it_should_and_not_before() -> None:
    done = run(tool("promtool"), "test", "rules", "alerts.test.yml", cwd=PROMETHEUS)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_the_alerts_issue_13_asks_for_exist_and_are_tested() -> None:
    rules = alert_rules()
    for alert, metric in REQUIRED_ALERTS.items():
        assert metric in rules[alert]["expr"], alert
    tests = yaml.safe_load((PROMETHEUS / "alerts.test.yml").read_text())["tests"]
    fired = {
        case["alertname"]
        for test in tests
        for case in test["alert_rule_test"]
        if case.get("exp_alerts")
    }
    assert fired == set(rules), "every alert needs a test case in which it fires"


def test_an_alert_that_stops_firing_fails_its_unit_test(tmp_path: Path) -> None:
    shutil.copy(PROMETHEUS / "alerts.test.yml", tmp_path)
    rules = (PROMETHEUS / "alerts.yml").read_text()
    (tmp_path / "alerts.yml").write_text(rules.replace("> 900", "> 9000"))
    done = run(tool("promtool"), "test", "rules", "alerts.test.yml", cwd=tmp_path)
    assert done.returncode != 0
    assert "WapipeOldestSendingTooOld" in done.stdout + done.stderr


def test_promtool_rejects_a_rule_that_is_not_promql(tmp_path: Path) -> None:
    bad = {"groups": [{"name": "x", "rules": [{"alert": "X", "expr": "sum(wapipe_dead_letters"}]}]}
    (tmp_path / "bad.yml").write_text(yaml.safe_dump(bad))
    assert run(tool("promtool"), "check", "rules", "bad.yml", cwd=tmp_path).returncode != 0


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    # Grafana's $__rate_interval is not PromQL; promtool parses each query as a recording rule.
    rules = [
        {"record": f"dashboard:query_{i}", "expr": expr.replace("$__rate_interval", "5m")}
        for i, expr in enumerate(dashboard_queries())
    ]
    (tmp_path / "queries.yml").write_text(
        yaml.safe_dump({"groups": [{"name": "q", "rules": rules}]})
    )
    done = run(tool("promtool"), "check", "rules", "queries.yml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_dashboard_and_alerts_use_only_contract_metrics_and_show_them_all() -> None:
    alert_exprs = [rule["expr"] for rule in alert_rules().values()]
    used = {contract_name(m) for q in dashboard_queries() + alert_exprs for m in METRIC.findall(q)}
    assert used <= CONTRACT_METRICS, used - CONTRACT_METRICS
    shown = {contract_name(m) for q in dashboard_queries() for m in METRIC.findall(q)}
    assert shown == CONTRACT_METRICS, CONTRACT_METRICS - shown


@pytest.mark.parametrize("metric", sorted(CONTRACT_METRICS))
def test_each_contract_metric_is_exported_by_the_code(metric: str) -> None:
    # A rename in the code would silently empty a panel and mute an alert.
    sources = [*ROOT.glob("pipeline/**/*.py"), *ROOT.glob("workers/**/*.py")]
    assert any(f'"{metric}"' in path.read_text() for path in sources)


def test_grafana_provisioning_loads_the_dashboard_from_where_compose_mounts_it() -> None:
    provider = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/wapipe.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    source = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    assert source["datasources"][0]["url"] == "http://prometheus:9090"
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "wapipe"
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])

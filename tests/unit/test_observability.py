"""The operators' side: the Prometheus alert rules pass `promtool check rules` and their own `promtool test rules`
unit tests, every Grafana dashboard query is valid PromQL, both are provisioned in docker-compose.yml, and every
metric they name is one the services export. promtool is fetched into `.switchboard/tools/` on first use."""

from __future__ import annotations

import ast
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.config import StackSettings
from deploy.promtool import ensure_promtool

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"
ALERTS = {
    "SwitchboardConsumerLag",
    "SwitchboardDeadLettersGrowing",
    "SwitchboardOutboxBacklog",
    "SwitchboardSlaBreachRate",
    "SwitchboardBackgroundTaskDown",
    "SwitchboardServiceDown",
    "SwitchboardWebhookDeliveriesFailing",
}
"""The names docs/operations.md explains."""
PROMETHEUS_OWN = {"up"}
"""Series Prometheus makes itself for every target."""
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}
METRIC_CLASSES = {
    "Counter": "counter",
    "CounterMetricFamily": "counter",
    "Gauge": "gauge",
    "GaugeMetricFamily": "gauge",
    "Histogram": "histogram",
    "HistogramMetricFamily": "histogram",
    "Summary": "summary",
}
SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum"),
    "summary": ("_count", "_sum"),
}


@pytest.fixture(scope="module")
def promtool() -> Path:
    return ensure_promtool(StackSettings().state)


def run(promtool: Path, *args: str | Path, cwd: Path = PROMETHEUS) -> str:
    done = subprocess.run([str(promtool), *map(str, args)], cwd=cwd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def rules() -> list[dict[str, Any]]:
    loaded = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text(encoding="utf-8"))
    return [rule for group in loaded["groups"] for rule in group["rules"]]


def dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(DASHBOARDS.glob("*.json"))}


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def dashboard_queries() -> list[tuple[str, str]]:
    return [
        (f"{name}: {panel['title']}", target["expr"])
        for name, dashboard in dashboards().items()
        for panel in panels(dashboard)
        for target in panel.get("targets", [])
    ]


def metric_names(expr: str) -> set[str]:
    without_strings = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    return set(re.findall(r"\b(switchboard_[a-z0-9_]+|up)\b", without_strings))


def exported() -> dict[str, str]:
    """Every series name the services expose, from their metric definitions: name → metric type."""
    found: dict[str, str] = {}
    for path in sorted((*(ROOT / "shared").rglob("*.py"), *(ROOT / "services").rglob("*.py"))):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            value = node.args[0].value
            if name in METRIC_CLASSES and isinstance(value, str) and value.startswith("switchboard_"):
                kind = METRIC_CLASSES[name]
                base = value.removesuffix("_total") if kind == "counter" else value
                for suffix in SUFFIXES[kind]:
                    found[base + suffix] = kind
    return found


def test_the_alert_rules_are_the_seven_documented_ones_and_pass_promtool_check(promtool: Path) -> None:
    assert {rule["alert"] for rule in rules()} == ALERTS
    for rule in rules():
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert {"summary", "description", "runbook_url"} <= set(rule["annotations"]), rule["alert"]
        assert rule["annotations"]["runbook_url"].endswith("operations.md#" + rule["alert"].lower())
    assert "SUCCESS: 7 rules found" in run(promtool, "check", "rules", "alerts.yml")


def test_each_alert_fires_as_its_promtool_unit_tests_expect(promtool: Path) -> None:
    tested = yaml.safe_load((PROMETHEUS / "alerts.test.yml").read_text(encoding="utf-8"))
    names = {t["alertname"] for case in tested["tests"] for t in case.get("alert_rule_test", [])}
    assert names == ALERTS, "every alert has a unit test"
    assert "SUCCESS" in run(promtool, "test", "rules", "alerts.test.yml")


def test_the_prometheus_configuration_is_valid_and_scrapes_every_service(promtool: Path) -> None:
    run(promtool, "check", "config", "prometheus.yml")
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text(encoding="utf-8"))
    labelled = {c["labels"]["service"] for job in config["scrape_configs"] for c in job["static_configs"]}
    assert labelled == {"intake", "routing", "sla", "feedback", "knowledge"}


def test_every_dashboard_query_is_valid_promql(promtool: Path, tmp_path: Path) -> None:
    queries = dashboard_queries()
    assert len(queries) > 20
    recorded = []
    for i, (_, expr) in enumerate(queries):
        for variable, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(variable, value)
        assert "$" not in expr, expr
        recorded.append({"record": f"dashboard:query_{i}", "expr": expr})
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": recorded}]}), encoding="utf-8")
    run(promtool, "check", "rules", path, cwd=tmp_path)


def test_dashboards_are_well_formed_and_provisioned_in_compose() -> None:
    found = dashboards()
    assert set(found) >= {"switchboard-centre.json", "switchboard-health.json"}
    assert len({d["uid"] for d in found.values()}) == len(found)
    for name, dashboard in found.items():
        ids = [p["id"] for p in panels(dashboard)]
        assert len(ids) == len(set(ids)), name
        for panel in panels(dashboard):
            assert set(panel["gridPos"]) == {"x", "y", "w", "h"}, (name, panel["title"])
            if panel["type"] != "row":
                assert panel["datasource"]["uid"] == "prometheus" and panel["targets"], (name, panel["title"])
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))["services"]
    assert "./deploy/grafana/dashboards:/var/lib/grafana/dashboards:ro" in compose["grafana"]["volumes"]
    assert "./deploy/prometheus:/etc/prometheus:ro" in compose["prometheus"]["volumes"]
    provider = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/switchboard.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    source = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
    assert source["datasources"][0]["uid"] == "prometheus"


def test_every_metric_in_rules_and_dashboards_is_one_the_services_export() -> None:
    known = exported()
    assert "switchboard_consumer_lag" in known and "switchboard_routing_wait_seconds_bucket" in known
    used = {name for _, expr in dashboard_queries() for name in metric_names(expr)}
    used |= {name for rule in rules() for name in metric_names(rule["expr"])}
    unknown = sorted(used - set(known) - PROMETHEUS_OWN)
    assert unknown == [], "rules and dashboards may name only metrics of shared/metrics.py and the services"


def test_a_made_up_metric_would_be_caught() -> None:
    expr = 'sum(rate(switchboard_made_up_total{type="switchboard_x"}[5m])) / on() up'
    assert metric_names(expr) == {"switchboard_made_up_total", "up"}
    assert "switchboard_made_up_total" not in exported()


def test_each_alerts_runbook_link_resolves_to_its_section_of_the_operations_book() -> None:
    from tests.unit.test_contract_links import resolve

    if not (ROOT / "docs" / "operations.md").exists():
        pytest.skip("docs/operations.md is not written yet")
    for rule in rules():
        resolve(rule["annotations"]["runbook_url"])

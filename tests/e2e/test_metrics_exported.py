"""Every metric the alert rules and the Grafana dashboards name is in what the five running services expose on
`/metrics` (the unit test reads the metric definitions; this scrapes the real thing)."""

from __future__ import annotations

import re

import httpx
import pytest

from deploy.stack import Stack
from shared.events import SERVICES
from tests.unit.test_observability import PROMETHEUS_OWN, dashboard_queries, metric_names, rules

pytestmark = pytest.mark.e2e

SUFFIXES = {"histogram": ("_bucket", "_count", "_sum"), "summary": ("_count", "_sum")}


async def test_rules_and_dashboards_name_only_metrics_the_services_expose(whole_stack: Stack) -> None:
    exposed: set[str] = set()
    async with httpx.AsyncClient(timeout=10) as client:
        for name in SERVICES:
            text = (await client.get(f"http://127.0.0.1:{whole_stack.settings.service_port(name)}/metrics")).text
            for family, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, flags=re.MULTILINE):
                exposed.update(family + suffix for suffix in SUFFIXES.get(kind, ("",)))
            exposed.update(re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", text, flags=re.MULTILINE))
    used = {n for _, expr in dashboard_queries() for n in metric_names(expr)}
    used |= {n for rule in rules() for n in metric_names(rule["expr"])}
    assert sorted(used - exposed - PROMETHEUS_OWN) == []

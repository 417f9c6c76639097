"""docker-compose.yml runs the same stack: it parses and names every service and the topic-creating step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from deploy.cli import build_parser
from shared.events import SERVICES

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def test_compose_has_broker_database_viewer_and_every_service_with_health_checks() -> None:
    services = compose()["services"]
    assert {
        "kafka",
        "postgres",
        "provision",
        "zipkin",
        "otel-collector",
        "prometheus",
        "grafana",
        *SERVICES,
    } <= set(services)
    for name in SERVICES:
        service = services[name]
        assert service["command"] == ["python", "-m", f"services.{name}", "serve"]
        assert service["environment"]["SWITCHBOARD_DATABASE_URL"].endswith(f"/{name}")
        assert service["environment"]["SWITCHBOARD_SERVICE"] == name
        assert "healthcheck" in service
        assert service["depends_on"]["provision"]["condition"] == "service_completed_successfully"
        assert service["build"]["dockerfile"] == "deploy/Dockerfile"
        assert service["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318"
        assert not any(key.startswith("OTEL_EXPORTER_ZIPKIN") for key in service["environment"])
    assert (ROOT / "deploy" / "Dockerfile").exists()


def test_the_provision_step_creates_topics_and_databases_with_a_real_cli_command() -> None:
    command = compose()["services"]["provision"]["command"]
    assert command[:2] == ["switchboard", "provision"]
    args = build_parser().parse_args(command[1:])
    assert args.kafka == "kafka:9092"
    assert args.postgres.endswith("/postgres")


def test_the_web_gateway_serves_the_one_origin_and_forwards_to_every_service_by_its_compose_name() -> None:
    services = compose()["services"]
    web = services["web"]
    assert web["command"] == ["python", "-m", "services.web", "serve"]
    assert web["ports"] == ["8100:8100"]
    assert web["environment"]["SWITCHBOARD_DATABASE_URL"].endswith("/web")
    for name in SERVICES:
        port = services[name]["environment"]["SWITCHBOARD_PORT"]
        assert web["environment"][f"SWITCHBOARD_{name.upper()}_URL"] == f"http://{name}:{port}"
    assert "healthcheck" in web


def test_spans_go_by_otlp_to_the_collector_which_hands_them_to_the_trace_viewer() -> None:
    services = compose()["services"]
    assert "./deploy/otel-collector.yaml:/etc/otelcol/config.yaml:ro" in services["otel-collector"]["volumes"]
    config = yaml.safe_load((ROOT / "deploy" / "otel-collector.yaml").read_text())
    assert config["receivers"]["otlp"]["protocols"]["http"]["endpoint"] == "0.0.0.0:4318"
    assert config["exporters"]["zipkin"]["endpoint"] == "http://zipkin:9411/api/v2/spans"
    assert config["service"]["pipelines"]["traces"] == {
        "receivers": ["otlp"],
        "processors": ["batch"],
        "exporters": ["zipkin"],
    }


def test_compose_runs_the_production_configuration_with_one_replica_and_a_public_survey_address() -> None:
    services = compose()["services"]
    for name in (*SERVICES, "web", "provision"):
        environment = services[name]["environment"]
        assert environment["SWITCHBOARD_ENVIRONMENT"] == "production", name
        assert (
            environment["SWITCHBOARD_TOPIC_REPLICATION_FACTOR"],
            environment["SWITCHBOARD_TOPIC_MIN_INSYNC_REPLICAS"],
        ) == (
            "1",
            "1",
        ), f"{name}: compose has one broker"
    assert services["feedback"]["environment"]["SWITCHBOARD_PUBLIC_BASE_URL"].startswith(
        "${SWITCHBOARD_PUBLIC_BASE_URL:-http"
    )

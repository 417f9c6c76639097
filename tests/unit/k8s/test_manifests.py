"""The Kubernetes manifests: current with the code they are generated from, rendered as `kubectl apply -k` renders
them, valid against the Kubernetes API schemas (and the operators' CRDs), and wired the way the services are."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from deploy import kube
from deploy.kustomize import KustomizeError, render
from services.feedback.api.adapters import router as feedback_adapters
from services.feedback.config import FeedbackSettings
from services.feedback.page import router as survey_page
from services.intake.api.channels import router as intake_channels
from services.intake.config import IntakeSettings
from services.knowledge.config import KnowledgeSettings
from services.routing.config import RoutingSettings
from services.sla.config import SlaSettings
from services.web.config import WebSettings
from shared.config import ServiceSettings
from shared.events import TOPICS
from tests.unit.k8s.crds import KUSTOMIZATION, PATCH_OPERATIONS, SCHEMAS

K8S = kube.K8S
KUSTOMIZATIONS = ["base", "kafka-topics", "postgres", "overlays/example"]
KUBERNETES_VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]
"""The oldest release still commonly run (HPA v2, PDB v1, Ingress v1 all GA long before) and the newest known."""
SETTINGS: dict[str, type[ServiceSettings]] = {
    "intake": IntakeSettings,
    "routing": RoutingSettings,
    "sla": SlaSettings,
    "feedback": FeedbackSettings,
    "knowledge": KnowledgeSettings,
    "web": WebSettings,
}


def rendered(directory: str) -> list[dict[str, Any]]:
    return render(K8S / directory)


def example() -> list[dict[str, Any]]:
    return rendered("overlays/example")


def by_kind(resources: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


def containers(resource: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = resource["spec"]["template"]["spec"]["containers"]
    return found


def validate(resource: dict[str, Any], version: str) -> None:
    custom = SCHEMAS.get((resource["apiVersion"], resource["kind"]))
    if custom is not None:
        jsonschema.validate(resource, custom)
    else:
        kubernetes_validate.validate(resource, version, strict=True)


# --- generated, current ---------------------------------------------------------------------------------------


def test_the_checked_in_manifests_are_what_the_generator_makes_now() -> None:
    stale = [str(p.relative_to(K8S)) for p in kube.stale()]
    assert not stale, f"deploy/k8s/ is stale ({', '.join(stale)}): run `./switchboard k8s generate`"


def test_a_topic_added_to_events_py_makes_the_checked_in_topics_stale(tmp_path: Path) -> None:
    shutil.copytree(K8S, tmp_path / "k8s")
    topics = tmp_path / "k8s" / "kafka-topics" / "topics.yaml"
    documents = [d for d in yaml.safe_load_all(topics.read_text()) if d]
    topics.write_text(kube.dump(documents[:-1]))  # as if the last declared topic were new in events.py
    assert kube.stale(tmp_path / "k8s") == [topics]


def test_there_is_a_kafka_topic_for_every_declared_topic_with_its_partitions_and_retention() -> None:
    topics = by_kind(rendered("kafka-topics"), "KafkaTopic")
    assert {t["spec"]["topicName"] for t in topics.values()} == {t.name for t in TOPICS}
    for declared in TOPICS:
        spec = topics[kube.topic_name(declared)]["spec"]
        assert spec["partitions"] == declared.partitions
        assert spec["config"]["retention.ms"] == declared.retention_ms
        assert spec["replicas"] == 3 and spec["config"]["min.insync.replicas"] == 2


# --- rendered and valid ---------------------------------------------------------------------------------------


def every_resource() -> Iterator[tuple[str, dict[str, Any]]]:
    for directory in KUSTOMIZATIONS:
        for resource in rendered(directory):
            yield directory, resource


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_rendered_resource_is_valid_against_the_kubernetes_and_operator_schemas(version: str) -> None:
    failures = []
    for directory, resource in every_resource():
        try:
            validate(resource, version)
        except (kubernetes_validate.ValidationError, jsonschema.ValidationError) as exc:
            failures.append(f"{directory}: {resource['kind']}/{resource['metadata']['name']}: {exc.message}")
    assert not failures, "\n".join(failures)


def test_the_validation_is_strict_enough_to_catch_a_misspelt_field() -> None:
    deployment = by_kind(example(), "Deployment")["switchboard-intake"]
    containers(deployment)[0]["readinesProbe"] = containers(deployment)[0].pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(deployment, KUBERNETES_VERSIONS[-1])
    topic = rendered("kafka-topics")[0]
    topic["spec"]["partition"] = topic["spec"].pop("partitions")
    with pytest.raises(jsonschema.ValidationError):
        validate(topic, KUBERNETES_VERSIONS[-1])


def test_every_kustomization_uses_only_what_the_renderer_knows() -> None:
    for path in K8S.rglob("kustomization.yaml"):
        spec = yaml.safe_load(path.read_text())
        jsonschema.validate(spec, KUSTOMIZATION)
        for patch in spec.get("patches", []):
            jsonschema.validate(yaml.safe_load(patch["patch"]), PATCH_OPERATIONS)


def test_the_renderer_refuses_what_it_does_not_implement(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\nconfigMapGenerator: [{name: x}]\n")
    with pytest.raises(KustomizeError, match="configMapGenerator"):
        render(tmp_path)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed here")
@pytest.mark.parametrize("directory", KUSTOMIZATIONS)
def test_our_rendering_is_kubectls(directory: str) -> None:
    """`kubectl apply -k` is how people install; where kubectl exists, it renders exactly what we validate."""
    out = subprocess.run(
        ["kubectl", "kustomize", str(K8S / directory)], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    theirs = [d for d in yaml.safe_load_all(out) if d]

    def key(r: dict[str, Any]) -> tuple[str, str, str]:
        return r["kind"], r["metadata"].get("namespace", ""), r["metadata"]["name"]

    assert sorted(map(key, theirs)) == sorted(map(key, rendered(directory)))
    ours = {key(r): r for r in rendered(directory)}
    for resource in theirs:
        assert resource == ours[key(resource)], f"{key(resource)} differs from kubectl's rendering"


# --- wired like the services ----------------------------------------------------------------------------------


def test_each_workload_serves_on_its_settings_port_with_the_health_routes_as_probes() -> None:
    resources = example()
    deployments, services = by_kind(resources, "Deployment"), by_kind(resources, "Service")
    app_sources = (Path("shared/app.py"), Path("services/web/app.py"))
    routes = "".join((kube.ROOT / p).read_text() for p in app_sources)
    assert '.get("/health/live"' in routes and '.get("/health/ready"' in routes
    for name, settings in SETTINGS.items():
        app = f"switchboard-{name}"
        (container,) = containers(deployments[app])
        port = settings().port
        assert container["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
        assert {"name": "SWITCHBOARD_PORT", "value": str(port)} in container["env"]
        assert container["command"] == ["python", "-m", f"services.{name}", "serve"]
        assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
        assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
        assert container["resources"]["requests"].keys() == {"cpu", "memory"}
        assert services[app]["spec"]["ports"][0]["port"] == port
        pod_labels = deployments[app]["spec"]["template"]["metadata"]["labels"]
        for selector in (
            services[app]["spec"]["selector"],
            by_kind(resources, "PodDisruptionBudget")[app]["spec"]["selector"]["matchLabels"],
        ):
            assert selector.items() <= pod_labels.items()
        hpa = by_kind(resources, "HorizontalPodAutoscaler")[app]["spec"]
        assert hpa["scaleTargetRef"]["name"] == app and hpa["minReplicas"] >= 2
        assert "replicas" not in deployments[app]["spec"], "the autoscaler owns the replica count"


def test_every_setting_the_manifests_set_is_one_the_workload_reads() -> None:
    resources = example()
    config = by_kind(resources, "ConfigMap")
    for key in config["switchboard-config"]["data"]:
        assert not key.startswith("SWITCHBOARD_") or key[12:].lower() in ServiceSettings.model_fields, key
    for name, settings in SETTINGS.items():
        app = f"switchboard-{name}"
        (container,) = containers(by_kind(resources, "Deployment")[app])
        keys = [*config[app]["data"], *(e["name"] for e in container["env"])]
        unknown = [k for k in keys if k.startswith("SWITCHBOARD_") and k[12:].lower() not in settings.model_fields]
        assert not unknown, f"{app} sets {unknown}, which {settings.__name__} does not read"
        assert settings(**{k[12:].lower(): v for k, v in config[app]["data"].items()})  # the values parse


def test_the_database_url_is_each_services_own_database_with_its_own_login() -> None:
    resources = example()
    roles = {
        role["name"]: role["passwordSecret"]["name"]
        for role in by_kind(resources, "Cluster")[kube.DB_CLUSTER]["spec"]["managed"]["roles"]
    }
    databases = {d["spec"]["name"]: d["spec"]["owner"] for d in by_kind(resources, "Database").values()}
    assert databases == {name: name for name in SETTINGS}
    for workload in (*by_kind(resources, "Deployment").values(), by_kind(resources, "Job")["switchboard-migrate"]):
        for container in containers(workload):
            env = {e["name"]: e for e in container["env"]}
            database = container["name"]
            url = env["SWITCHBOARD_DATABASE_URL"]["value"]
            assert url.startswith("postgresql://$(DB_USER):$(DB_PASSWORD)@$(DB_HOST):$(DB_PORT)/")
            assert url.endswith(f"/{database}$(DB_OPTIONS)")
            secret = env["DB_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"]
            assert roles[database] == secret == env["DB_USER"]["valueFrom"]["secretKeyRef"]["name"]


def test_migrations_run_as_a_job_with_each_services_migrate_command() -> None:
    job = by_kind(example(), "Job")["switchboard-migrate"]
    assert {c["name"]: c["command"] for c in containers(job)} == {
        name: ["python", "-m", f"services.{name}", "migrate"] for name in SETTINGS
    }
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"


def test_the_ingress_sends_people_to_the_gateway_customers_to_the_survey_page_and_adapters_to_their_apis() -> None:
    resources = example()
    ingresses = by_kind(resources, "Ingress")
    ports = {name: s["spec"]["ports"][0]["port"] for name, s in by_kind(resources, "Service").items()}
    routes: dict[str, tuple[str, int]] = {}
    for ingress in ingresses.values():
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                assert backend["port"]["number"] == ports[backend["name"]]
                routes[rule["host"] + path["path"]] = backend["name"], backend["port"]["number"]
    # Everything on the people's host goes to the gateway: it forwards /api/<service>/… and the desktop
    # WebSocket with the session's token (docs/web.md), so the ingress routes no /api path itself.
    assert routes["switchboard.example.com/"][0] == "switchboard-web"
    assert not [r for r in routes if "/api" in r]
    people = ingresses["switchboard-web"]["metadata"]["annotations"]
    assert int(people["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600  # the desktop socket
    assert any(r.path.startswith("/s/") for r in survey_page.routes)  # type: ignore[attr-defined]
    assert routes["surveys.example.com/s"][0] == "switchboard-feedback"
    intake_paths = [r.path for r in intake_channels.routes]  # type: ignore[attr-defined]
    feedback_paths = [r.path for r in feedback_adapters.routes]  # type: ignore[attr-defined]
    for route, (service, _) in routes.items():
        if route.startswith("adapters.example.com"):
            path = route.removeprefix("adapters.example.com")
            served = intake_paths if service == "switchboard-intake" else feedback_paths
            assert any(p.startswith(path) for p in served), f"{route} reaches no route of {service}"
    web = by_kind(resources, "ConfigMap")["switchboard-web"]["data"]
    for name in SETTINGS.keys() - {"web"}:
        assert (
            web[f"SWITCHBOARD_{name.upper()}_URL"] == f"http://switchboard-{name}:{ports[f'switchboard-{name}']}"
        )


def test_lag_autoscaling_adds_an_external_lag_metric_to_every_consuming_service() -> None:
    hpas = by_kind(example(), "HorizontalPodAutoscaler")
    for name, hpa in hpas.items():
        kinds = [m["type"] for m in hpa["spec"]["metrics"]]
        assert kinds == (["Resource"] if name == "switchboard-web" else ["Resource", "External"]), name

"""The local trace viewer: a Zipkin server from Maven Central (one exec jar) fed by OTLP, and reading journeys
back from it.

`switchboard up --traces` starts it and, in front of it, our OTLP/HTTP receiver (`deploy.otlp`), and points
every service's OTLP exporter at the receiver — the same export path as to any backend a deployment has.
`switchboard trace <contact-id>` asks Zipkin's API for the traces that carry the contact id and prints them as one
tree. (Zipkin's own OTLP module is not on Maven Central, and Jaeger or the OpenTelemetry Collector would have to
be built from Go sources or run in Docker; the receiver is 150 lines of Python on packages the services already
have.)
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from deploy.broker import fetch_with_maven
from deploy.config import StackSettings
from deploy.processes import Managed, spawn

POM = Path(__file__).parent / "zipkin" / "pom.xml"


class Zipkin:
    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings
        self.lib = settings.state / "zipkin" / "lib"
        self.process = Managed("zipkin", settings.state / "run" / "zipkin.pid", marker="zipkin-server")
        self.log = settings.state / "logs" / "zipkin.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.zipkin_port}"

    @property
    def spans_endpoint(self) -> str:
        return f"{self.url}/api/v2/spans"

    def ensure_jar(self) -> bool:
        return fetch_with_maven(POM, self.lib, "zipkin-server-*-exec.jar", what="the Zipkin server")

    def start(self) -> int:
        running = self.process.pid()
        if running is not None:
            return running
        self.ensure_jar()
        [jar] = sorted(self.lib.glob("zipkin-server-*-exec.jar"))
        command = [
            "java",
            "-Xms64m",
            "-Xmx512m",
            "-XX:+UseSerialGC",
            "-jar",
            str(jar),
            f"--armeria.ports[0].port={self.settings.zipkin_port}",
            "--armeria.ports[0].ip=127.0.0.1",
            "--armeria.ports[0].protocols[0]=http",
        ]
        # In-memory storage drops the oldest traces beyond MEM_MAX_SPANS. A million spans did not fit the heap:
        # at 40 contacts/s (`bench.system`) the viewer died of OutOfMemoryError. 150,000 spans (a few thousand
        # contacts' journeys) fit in 512 MB with room to spare.
        return spawn(self.process, command, log=self.log, env={"MEM_MAX_SPANS": "150000"})

    def stop(self) -> bool:
        return self.process.stop(timeout_s=20)


class OtlpReceiver:
    """`python -m deploy.otlp`: OTLP/HTTP in, Zipkin's span API out."""

    def __init__(self, settings: StackSettings, zipkin: Zipkin) -> None:
        self.settings = settings
        self.zipkin = zipkin
        self.process = Managed("otlp", settings.state / "run" / "otlp.pid", marker="deploy.otlp")
        self.log = settings.state / "logs" / "otlp.log"

    @property
    def url(self) -> str:
        """The OTLP/HTTP base URL (`OTEL_EXPORTER_OTLP_ENDPOINT`); exporters add `/v1/traces`."""
        return f"http://127.0.0.1:{self.settings.otlp_port}"

    def start(self) -> int:
        running = self.process.pid()
        if running is not None:
            return running
        command = [
            sys.executable, "-m", "deploy.otlp",
            "--port", str(self.settings.otlp_port), "--zipkin", self.zipkin.spans_endpoint,
        ]  # fmt: skip
        return spawn(self.process, command, log=self.log)

    def stop(self) -> bool:
        return self.process.stop(timeout_s=10)


@dataclass
class SpanNode:
    span: dict[str, Any]
    children: list[SpanNode] = field(default_factory=list)

    @property
    def start_us(self) -> int:
        return int(self.span.get("timestamp", 0))


def journey(spans: list[dict[str, Any]]) -> list[SpanNode]:
    """Arrange Zipkin spans (possibly from several traces) as trees ordered by start time."""
    nodes = {s["id"]: SpanNode(s) for s in spans}
    roots: list[SpanNode] = []
    for node in nodes.values():
        parent = nodes.get(node.span.get("parentId", ""))
        (parent.children if parent is not None else roots).append(node)
    for node in nodes.values():
        node.children.sort(key=lambda n: n.start_us)
    return sorted(roots, key=lambda n: n.start_us)


async def fetch_contact_spans(
    zipkin_url: str, contact_id: str, *, lookback_ms: int = 7 * 86_400_000
) -> list[dict[str, Any]]:
    params = {"annotationQuery": f"contact.id={contact_id}", "lookback": str(lookback_ms), "limit": "100"}
    async with httpx.AsyncClient(base_url=zipkin_url, timeout=10) as client:
        response = await client.get("/api/v2/traces", params=params)
        response.raise_for_status()
        traces: list[list[dict[str, Any]]] = response.json()
    seen: dict[str, dict[str, Any]] = {}
    for trace_spans in traces:
        for span in trace_spans:
            seen[span["id"] + span.get("traceId", "")] = span
    return list(seen.values())

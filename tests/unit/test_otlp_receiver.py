"""The local stack's OTLP/HTTP receiver: spans the SDK exports (encoded as its OTLP exporter encodes them) reach
the trace viewer as Zipkin spans with the same ids, parents, kinds, times, service and tags; the exporter is
told to retry while the viewer is away."""

from __future__ import annotations

import json
from typing import Any

import httpx
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from deploy.otlp import PROTOBUF, receiver_app, zipkin_spans

ZIPKIN = "http://zipkin.test/api/v2/spans"


def journey() -> list[ReadableSpan]:
    """An intake request that publishes, and a failing query under it."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "intake"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("switchboard.http")
    with tracer.start_as_current_span("POST /v1/contacts/chat", kind=SpanKind.SERVER) as root:
        root.set_attribute("contact.id", "c-1")
        root.set_attribute("http.response.status_code", 202)
        root.add_event("deduplicated", {"reason": "retry"})
        with tracer.start_as_current_span("INSERT intake", kind=SpanKind.CLIENT) as query:
            query.set_attribute("db.system.name", "postgresql")
            query.set_status(Status(StatusCode.ERROR, "UniqueViolationError"))
        with tracer.start_as_current_span("relay", kind=SpanKind.INTERNAL):
            pass
    provider.shutdown()
    return list(exporter.get_finished_spans())


def test_spans_keep_their_ids_parents_kinds_times_service_and_tags() -> None:
    spans = journey()
    converted = {s["name"]: s for s in zipkin_spans(encode_spans(spans))}
    by_name = {s.name: s for s in spans}
    root, query, relay = (converted[n] for n in ("POST /v1/contacts/chat", "INSERT intake", "relay"))
    original = by_name["POST /v1/contacts/chat"]
    assert root["traceId"] == format(original.context.trace_id, "032x")
    assert root["id"] == format(original.context.span_id, "016x")
    assert "parentId" not in root and query["parentId"] == relay["parentId"] == root["id"]
    assert (root["kind"], query["kind"], "kind" in relay) == ("SERVER", "CLIENT", False)
    assert root["localEndpoint"] == {"serviceName": "intake"}
    assert root["timestamp"] == (original.start_time or 0) // 1000
    assert root["duration"] == max(1, ((original.end_time or 0) - (original.start_time or 0)) // 1000)
    assert root["tags"]["contact.id"] == "c-1" and root["tags"]["http.response.status_code"] == "202"
    assert root["annotations"][0]["value"] == 'deduplicated {"reason":"retry"}'
    assert query["tags"]["db.system.name"] == "postgresql"
    assert query["tags"]["otel.status_code"] == "ERROR" and query["tags"]["error"] == "UniqueViolationError"


class Viewer:
    """Zipkin's span API as the receiver sees it."""

    def __init__(self, *, up: bool = True) -> None:
        self.up = up
        self.stored: list[dict[str, Any]] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        assert str(request.url) == ZIPKIN
        if not self.up:
            raise httpx.ConnectError("connection refused", request=request)
        self.stored.extend(json.loads(request.content))
        return httpx.Response(202)


async def post(viewer: Viewer, body: bytes, content_type: str) -> httpx.Response:
    app = receiver_app(ZIPKIN, transport=httpx.MockTransport(viewer.handle))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://otlp.test") as client:
        return await client.post("/v1/traces", content=body, headers={"content-type": content_type})


async def test_an_export_reaches_the_viewer_before_it_is_acknowledged() -> None:
    viewer = Viewer()
    response = await post(viewer, encode_spans(journey()).SerializeToString(), PROTOBUF)
    assert response.status_code == 200 and response.headers["content-type"] == PROTOBUF
    assert sorted(s["name"] for s in viewer.stored) == ["INSERT intake", "POST /v1/contacts/chat", "relay"]


async def test_the_json_encoding_is_taken_too() -> None:
    viewer = Viewer()
    response = await post(viewer, json_format.MessageToJson(encode_spans(journey())).encode(), "application/json")
    assert response.status_code == 200 and len(viewer.stored) == 3


async def test_while_the_viewer_is_away_the_exporter_is_told_to_retry() -> None:
    response = await post(Viewer(up=False), encode_spans(journey()).SerializeToString(), PROTOBUF)
    assert response.status_code == 503


async def test_a_body_that_is_no_export_is_refused() -> None:
    response = await post(Viewer(), b"\xff\x00 not protobuf", PROTOBUF)
    assert response.status_code == 400

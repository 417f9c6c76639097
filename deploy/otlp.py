"""The local stack's OTLP/HTTP receiver: services export their spans with OTLP (the one export path, as to any
backend a deployment has), and this hands them to the local trace viewer (Zipkin) in its own span format.

`POST /v1/traces` takes an `ExportTraceServiceRequest` (protobuf, or its JSON form) and answers only once
Zipkin has stored the spans, so an exporter retries when the viewer is away (503). `python -m deploy.otlp
--port P --zipkin URL` runs it; `switchboard up --traces` starts it beside Zipkin.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import uvicorn
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

log = logging.getLogger(__name__)

PROTOBUF = "application/x-protobuf"
FORWARD_TIMEOUT_S = 10.0
_KINDS = {
    Span.SPAN_KIND_SERVER: "SERVER",
    Span.SPAN_KIND_CLIENT: "CLIENT",
    Span.SPAN_KIND_PRODUCER: "PRODUCER",
    Span.SPAN_KIND_CONSUMER: "CONSUMER",
}


def _value(value: AnyValue) -> Any:
    field = value.WhichOneof("value")
    if field is None:
        return None
    if field == "array_value":
        return [_value(v) for v in value.array_value.values]
    if field == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in value.kvlist_value.values}
    if field == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, field)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _attributes(attributes: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for kv in attributes:
        assert isinstance(kv, KeyValue)
        found[kv.key] = _value(kv.value)
    return found


def zipkin_spans(request: ExportTraceServiceRequest) -> Iterator[dict[str, Any]]:
    """Zipkin v2 spans of an OTLP request, as OpenTelemetry's Zipkin exporter made them: times in µs, the
    attributes as string tags, the status as `otel.status_code` (and `error`), events as annotations."""
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        service = str(resource.get("service.name", "unknown_service"))
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope
            for span in scope_spans.spans:
                start_us = span.start_time_unix_nano // 1000
                tags = {key: _text(value) for key, value in _attributes(span.attributes).items()}
                if scope.name:
                    tags["otel.scope.name"] = scope.name
                if span.status.code == Status.STATUS_CODE_ERROR:
                    tags["otel.status_code"] = "ERROR"
                    tags["error"] = span.status.message
                elif span.status.code == Status.STATUS_CODE_OK:
                    tags["otel.status_code"] = "OK"
                zipkin: dict[str, Any] = {
                    "traceId": span.trace_id.hex(),
                    "id": span.span_id.hex(),
                    "name": span.name,
                    "timestamp": start_us,
                    "duration": max(1, (span.end_time_unix_nano - span.start_time_unix_nano) // 1000),
                    "localEndpoint": {"serviceName": service},
                    "tags": tags,
                }
                if span.parent_span_id:
                    zipkin["parentId"] = span.parent_span_id.hex()
                if span.kind in _KINDS:
                    zipkin["kind"] = _KINDS[span.kind]
                if span.events:
                    zipkin["annotations"] = [
                        {
                            "timestamp": event.time_unix_nano // 1000,
                            "value": event.name
                            + (" " + _text(_attributes(event.attributes)) if event.attributes else ""),
                        }
                        for event in span.events
                    ]
                yield zipkin


def parse_request(body: bytes, content_type: str) -> ExportTraceServiceRequest:
    """Raises ValueError for a body that is not an export request in the given encoding."""
    request = ExportTraceServiceRequest()
    try:
        if content_type.startswith("application/json"):
            json_format.Parse(body, request)
        else:
            request.ParseFromString(body)
    except (DecodeError, json_format.ParseError) as exc:
        raise ValueError(str(exc)) from exc
    return request


def receiver_app(zipkin_spans_url: str, *, transport: httpx.AsyncBaseTransport | None = None) -> Starlette:
    client = httpx.AsyncClient(timeout=FORWARD_TIMEOUT_S, transport=transport)

    async def traces(request: Request) -> Response:
        content_type = request.headers.get("content-type", PROTOBUF)
        try:
            export = parse_request(await request.body(), content_type)
        except ValueError as exc:
            return JSONResponse({"message": f"not an OTLP trace export: {exc}"}, status_code=400)
        spans = list(zipkin_spans(export))
        if spans:
            try:
                forwarded = await client.post(zipkin_spans_url, json=spans)
                forwarded.raise_for_status()
            except httpx.HTTPError as exc:
                # 503 makes the exporter keep the batch and send it again.
                log.warning("the trace viewer did not take %d spans: %s", len(spans), exc)
                return JSONResponse({"message": "the trace viewer is unavailable"}, status_code=503)
        reply = ExportTraceServiceResponse()
        if content_type.startswith("application/json"):
            return Response(json_format.MessageToJson(reply), media_type="application/json")
        return Response(reply.SerializeToString(), media_type=PROTOBUF)

    async def health(_request: Request) -> Response:
        return JSONResponse({"status": "ok", "forwards_to": zipkin_spans_url})

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await client.aclose()

    return Starlette(
        routes=[Route("/v1/traces", traces, methods=["POST"]), Route("/health", health)], lifespan=lifespan
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m deploy.otlp", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--zipkin", required=True, help="Zipkin's span endpoint, e.g. http://127.0.0.1:9511/api/v2/spans"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(receiver_app(args.zipkin), host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()

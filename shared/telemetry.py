"""Traces, logs and PII masking.

One tracer provider per process; spans leave it by OTLP/HTTP only, when `OTEL_EXPORTER_OTLP_ENDPOINT` (or the
traces-specific variable) is set — to an OpenTelemetry Collector, Jaeger, Tempo, Zipkin's OTLP ingestion, or the
local stack's receiver in front of its trace viewer; the standard `OTEL_EXPORTER_OTLP_*` variables configure it.
W3C trace context travels in Kafka headers so a consumer's span is a child of the producer's; HTTP server spans
carry method, route and status, never the query string; JSON logs carry trace ids.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, MutableMapping, Sequence
from datetime import UTC, datetime
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter, Setter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.redact import format_exception

_PROPAGATOR = TraceContextTextMapPropagator()
_provider: TracerProvider | None = None
_database_spans = False

Headers = Sequence[tuple[str, bytes]]


def setup_telemetry(service: str, *, extra_processors: Iterable[SpanProcessor] = ()) -> TracerProvider:
    """Install the process's tracer provider once; later calls return it (and add processors)."""
    global _provider, _database_spans
    if _provider is None:
        resource = Resource.create(
            {"service.name": os.environ.get("OTEL_SERVICE_NAME", service), "service.namespace": "switchboard"}
        )
        _provider = TracerProvider(resource=resource)
        if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
            _database_spans = True
        trace.set_tracer_provider(_provider)
    for processor in extra_processors:
        _provider.add_span_processor(processor)
    return _provider


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)


# --- context across Kafka -----------------------------------------------------------------------------------


class _HeaderSetter(Setter[MutableMapping[str, str]]):
    def set(self, carrier: MutableMapping[str, str], key: str, value: str) -> None:
        carrier[key] = value


class _HeaderGetter(Getter[Mapping[str, str]]):
    def get(self, carrier: Mapping[str, str], key: str) -> list[str] | None:
        value = carrier.get(key)
        return None if value is None else [value]

    def keys(self, carrier: Mapping[str, str]) -> list[str]:
        return list(carrier)


def current_trace_carrier(ctx: Context | None = None) -> dict[str, str]:
    """`traceparent`/`tracestate` of the current (or given) context, for storing beside an outbox row."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=ctx, setter=_HeaderSetter())
    return carrier


def context_from_carrier(carrier: Mapping[str, str]) -> Context:
    return _PROPAGATOR.extract(carrier, getter=_HeaderGetter())


def carrier_from_headers(headers: Headers | None) -> dict[str, str]:
    return {k: v.decode("latin-1") for k, v in headers or () if k in ("traceparent", "tracestate")}


def context_from_headers(headers: Headers | None) -> Context:
    return context_from_carrier(carrier_from_headers(headers))


@contextlib.contextmanager
def journey_span(
    carrier: Mapping[str, str] | None,
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, str | int | float | bool] | None = None,
) -> Iterator[trace.Span]:
    """A span that continues a contact's journey from a stored carrier (see `current_trace_carrier`).

    Work that happens later and on its own — an SLA timer firing, a scheduled survey going out, an agent's
    click on the desktop — starts no new trace: it hangs under the trace the contact's first request began.
    """
    parent = context_from_carrier(carrier) if carrier else None
    with tracer("switchboard.journey").start_as_current_span(
        name, context=parent, kind=kind, attributes=dict(attributes or {})
    ) as span:
        yield span


def trace_headers(ctx: Context | None = None) -> list[tuple[str, bytes]]:
    return [(k, v.encode("latin-1")) for k, v in current_trace_carrier(ctx).items()]


# --- HTTP server spans --------------------------------------------------------------------------------------


class TracingMiddleware:
    """One SERVER span per request, named `METHOD /route/{template}`; neither the raw path nor the query string
    is recorded."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._tracer = tracer("switchboard.http")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/health"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", ())}
        parent = context_from_carrier(headers)
        method = scope["method"]
        with self._tracer.start_as_current_span(
            method,
            context=parent,
            kind=SpanKind.SERVER,
            # No `url.path`: paths can carry secrets (survey links) or identities; the route template is set below.
            attributes={"http.request.method": method, "url.scheme": "http"},
        ) as span:
            status_holder: dict[str, int] = {}

            async def send_wrapper(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status_holder["status"] = message["status"]
                await send(message)

            try:
                await self.app(scope, receive, send_wrapper)
            finally:
                route = scope.get("route")
                template = getattr(route, "path", None)
                if template:
                    span.update_name(f"{method} {template}")
                    span.set_attribute("http.route", template)
                status = status_holder.get("status", 500)
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))


# --- logs ---------------------------------------------------------------------------------------------------


class RedactingFormatter(logging.Formatter):
    """Tracebacks with every frame but the exception's own text replaced by `redact.describe`: an error's
    message may carry what a customer wrote."""

    def formatException(self, ei: Any) -> str:
        _, exc, tb = ei
        return format_exception(exc, tb)


class JsonFormatter(RedactingFormatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            entry["trace_id"] = format(span.trace_id, "032x")
            entry["span_id"] = format(span.span_id, "016x")
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(service: str, *, level: str = "INFO", as_json: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if as_json:
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))


def attach(ctx: Context) -> object:
    return otel_context.attach(ctx)


def detach(token: object) -> None:
    otel_context.detach(token)  # type: ignore[arg-type]


def monotonic_ms() -> float:
    return time.monotonic() * 1000


# --- database spans -----------------------------------------------------------------------------------------


def database_spans() -> bool:
    """True when spans leave the process (an exporter is configured): only then are queries traced."""
    return _database_spans


def query_span(record: Any) -> None:
    """One CLIENT span per PostgreSQL query, made from asyncpg's query log after the query ran. asyncpg calls
    this with `call_soon` from the querying task, so the current span is the one that ran the query. The
    statement text carries `$n` placeholders, never the values; a failure records its type, not its message
    (which can quote values)."""
    end = time.time_ns()
    start = end - int(record.elapsed * 1_000_000_000)
    statement = " ".join(str(record.query).split())
    operation = statement.split(" ", 1)[0].upper() if statement else "QUERY"
    attributes: dict[str, str | int] = {
        "db.system.name": "postgresql",
        "db.operation.name": operation,
        "db.query.text": statement[:2000],
    }
    database = getattr(record.conn_params, "database", None)
    if database:
        attributes["db.namespace"] = str(database)
    address = record.conn_addr
    if isinstance(address, tuple) and len(address) >= 2:
        attributes["server.address"] = str(address[0])
        attributes["server.port"] = int(address[1])
    span = tracer("switchboard.db").start_span(
        f"{operation} {database}" if database else operation,
        kind=SpanKind.CLIENT,
        start_time=start,
        attributes=attributes,
    )
    if record.exception is not None:
        span.set_attribute("error.type", type(record.exception).__name__)
        span.set_status(Status(StatusCode.ERROR))
    span.end(end_time=end)

"""Database spans: one CLIENT span per query under the span that ran it, by the semantic conventions, without
the query's values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from shared.telemetry import query_span, tracer


@dataclass
class Params:
    database: str


@dataclass
class Logged:
    """The fields of asyncpg's `LoggedQuery` the span reads."""

    query: str
    args: tuple[Any, ...]
    elapsed: float
    exception: BaseException | None
    conn_addr: tuple[str, int]
    conn_params: Params


def test_a_failed_query_is_a_client_span_of_its_caller_with_the_statement_but_no_values(
    spans: InMemorySpanExporter,
) -> None:
    spans.clear()
    secret = "wang.fang@example.com"
    record = Logged(
        query="INSERT INTO customer_identity (kind, value)\n    VALUES ($1, $2)",
        args=("email", secret),
        elapsed=0.004,
        exception=ValueError(f"duplicate key value violates unique constraint: Key (value)=({secret})"),
        conn_addr=("127.0.0.1", 5532),
        conn_params=Params("intake"),
    )
    with tracer("tests").start_as_current_span("process intake.contacts") as parent:
        query_span(record)
    [span] = [s for s in spans.get_finished_spans() if s.kind == SpanKind.CLIENT]
    assert span.name == "INSERT intake"
    assert span.parent is not None and span.parent.span_id == parent.get_span_context().span_id
    attributes = dict(span.attributes or {})
    assert attributes["db.system.name"] == "postgresql"
    assert attributes["db.namespace"] == "intake"
    assert attributes["db.query.text"] == "INSERT INTO customer_identity (kind, value) VALUES ($1, $2)"
    assert (attributes["server.address"], attributes["server.port"]) == ("127.0.0.1", 5532)
    assert attributes["error.type"] == "ValueError" and span.status.status_code == StatusCode.ERROR
    assert span.end_time is not None and span.start_time is not None
    assert 3_000_000 <= span.end_time - span.start_time <= 5_000_000
    assert secret not in repr(attributes) and not span.events

"""Later work on a contact continues the contact's trace from a stored carrier."""

from __future__ import annotations

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.telemetry import current_trace_carrier, journey_span, tracer


def test_a_timer_firing_later_hangs_under_the_contact_trace(spans: InMemorySpanExporter) -> None:
    with tracer("tests").start_as_current_span("POST /v1/channels/phone") as request:
        stored = current_trace_carrier()
    with journey_span(stored, "sla fire warning", attributes={"contact.id": "c-1"}) as fired:
        pass
    request_ctx = request.get_span_context()
    assert fired.get_span_context().trace_id == request_ctx.trace_id
    [finished] = [s for s in spans.get_finished_spans() if s.name == "sla fire warning"]
    assert finished.parent is not None and finished.parent.span_id == request_ctx.span_id


def test_without_a_carrier_the_span_starts_its_own_trace(spans: InMemorySpanExporter) -> None:
    with journey_span(None, "orphan work") as span:
        assert span.get_span_context().is_valid

"""`switchboard trace` arranges Zipkin spans from several traces into one journey, in start order."""

from __future__ import annotations

from deploy.traces import journey


def span(span_id: str, start: int, parent: str | None = None, trace: str = "t1") -> dict[str, object]:
    body: dict[str, object] = {
        "id": span_id,
        "traceId": trace,
        "timestamp": start,
        "duration": 10,
        "name": span_id,
    }
    if parent:
        body["parentId"] = parent
    return body


def test_children_hang_under_their_parents_and_traces_follow_each_other_by_start_time() -> None:
    spans = [
        span("accept", 500, trace="t2"),
        span("process", 300, parent="send"),
        span("post", 100),
        span("send", 200, parent="post"),
        span("offer", 350, parent="process"),
        span("ack", 320, parent="process"),
    ]
    roots = journey(spans)
    assert [r.span["id"] for r in roots] == ["post", "accept"]
    [send] = roots[0].children
    [process] = send.children
    assert [c.span["id"] for c in process.children] == ["ack", "offer"]


def test_a_span_whose_parent_was_not_exported_becomes_a_root() -> None:
    roots = journey([span("orphan", 5, parent="missing"), span("root", 1)])
    assert [r.span["id"] for r in roots] == ["root", "orphan"]

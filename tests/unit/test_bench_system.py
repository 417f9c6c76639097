"""The whole-system benchmark splits a contact's posted → offer latency by hop from its spans."""

from __future__ import annotations

from typing import Any

import pytest

from bench.system import HOPS, hop_split


def span(service: str, name: str, start_ms: float, duration_ms: float) -> dict[str, Any]:
    return {
        "localEndpoint": {"serviceName": service},
        "name": name,
        "timestamp": int(1_000_000 * 1e6 + start_ms * 1000),
        "duration": int(duration_ms * 1000),
    }


def test_each_hop_runs_from_one_span_boundary_to_the_next_and_they_add_up_to_the_whole() -> None:
    spans = [
        span("intake", "post /v1/channels/web", 0, 20),
        span("intake", "send intake.contacts", 23, 1),
        span("routing", "process intake.contacts", 40, 30),
        span("routing", "process intake.contacts", 900, 5),  # a redelivery later: the first one counts
        span("knowledge", "process intake.contacts", 35, 50),
    ]
    offered_at = 1_000_000 + 0.120  # seconds since the epoch
    split = hop_split(spans, offered_at)
    assert split is not None
    assert list(split) == list(HOPS)
    assert [round(split[h], 3) for h in HOPS] == [20.0, 3.0, 17.0, 30.0, 50.0]
    assert sum(split.values()) == pytest.approx(120.0, abs=0.01)


def test_a_contact_whose_trace_misses_a_service_is_left_out() -> None:
    assert hop_split([span("intake", "post /v1/channels/web", 0, 20)], 1_000_000.1) is None

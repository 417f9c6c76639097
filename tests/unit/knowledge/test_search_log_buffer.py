"""The lookup buffer keeps what it cannot write yet, up to a bound, and says what it dropped beyond it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from services.knowledge.repository.searchlog import SearchRecord
from services.knowledge.searchlog import SearchLogBuffer


def record(query: str) -> SearchRecord:
    return SearchRecord(
        search_id=uuid.uuid4(),
        source="lookup",
        actor="agent:a-1",
        query=query,
        query_key=query,
        language=None,
        filters={},
        result_ids=[],
        result_count=0,
        searched_at=datetime(2026, 11, 23, 9, 0, tzinfo=UTC),
    )


def test_beyond_the_bound_the_oldest_lookups_are_dropped_and_counted() -> None:
    buffer = SearchLogBuffer(interval_s=1.0, batch=1000, max_pending=3)
    records = [record(f"q{n}") for n in range(5)]
    for r in records:
        buffer.add(r)
    assert len(buffer) == 3 and buffer.dropped == 2
    assert not buffer.holds(records[0].search_id) and not buffer.holds(records[1].search_id)
    assert all(buffer.holds(r.search_id) for r in records[2:])


def test_a_full_batch_wakes_the_writer_before_its_interval() -> None:
    buffer = SearchLogBuffer(interval_s=60.0, batch=2, max_pending=100)
    buffer.add(record("a"))
    assert not buffer._wake.is_set()
    buffer.add(record("b"))
    assert buffer._wake.is_set()

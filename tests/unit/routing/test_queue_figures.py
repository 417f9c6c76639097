"""Service level, abandon rate and average speed of answer from an interval's counts."""

from __future__ import annotations

from datetime import UTC, datetime

from services.routing.domain.figures import IntervalCounts, all_figures, figures

T = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def test_only_settled_contacts_count_and_the_threshold_is_inclusive() -> None:
    counts = IntervalCounts(T, "default", "phone", arrived=6, abandoned=1, waits_s=(5.0, 20.0, 21.0, 40.0))
    result = figures(counts, 20)
    assert (result.answered, result.answered_in_threshold) == (4, 2)
    assert result.service_level == 2 / 5  # two of the five answered-or-abandoned within 20 s; one still waits
    assert result.abandon_rate == 1 / 5
    assert result.asa_s == 21.5


def test_an_interval_with_nothing_settled_has_no_rates() -> None:
    result = figures(IntervalCounts(T, "default", "chat", arrived=2, abandoned=0, waits_s=()), 60)
    assert (result.service_level, result.abandon_rate, result.asa_s) == (None, None, None)


def test_each_channel_uses_its_own_threshold() -> None:
    rows = [
        IntervalCounts(T, "p", "phone", arrived=1, abandoned=0, waits_s=(30.0,)),
        IntervalCounts(T, "p", "chat", arrived=1, abandoned=0, waits_s=(30.0,)),
    ]
    assert [f.service_level for f in all_figures(rows, {"phone": 20, "chat": 60})] == [0.0, 1.0]

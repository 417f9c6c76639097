"""`CountOf`: a tally a background loop keeps, exposed as a Prometheus counter read at each scrape."""

from __future__ import annotations

from collections import Counter

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from shared.metrics import CountOf


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_a_plain_count_is_read_at_each_scrape_not_when_registered() -> None:
    fired = [0]
    registry = CollectorRegistry()
    registry.register(CountOf("switchboard_test_fired", "Moments fired", lambda: fired[0]))
    assert samples(registry)[("switchboard_test_fired_total", ())] == 0
    fired[0] = 7
    assert samples(registry)[("switchboard_test_fired_total", ())] == 7


def test_a_tally_by_outcome_becomes_one_sample_per_outcome() -> None:
    outcomes: Counter[str] = Counter(sent=3, expired=1)
    registry = CollectorRegistry()
    registry.register(CountOf("switchboard_test_invitations", "Invitations by outcome", lambda: outcomes))
    outcomes["sent"] += 2
    assert samples(registry) == {
        ("switchboard_test_invitations_total", (("outcome", "expired"),)): 1,
        ("switchboard_test_invitations_total", (("outcome", "sent"),)): 5,
    }

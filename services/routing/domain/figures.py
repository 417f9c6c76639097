"""Queue figures per interval, pool and channel: how many arrived, were answered, abandoned; the average speed
of answer; the service level (the share answered within the channel's threshold); the abandon rate.

Only contacts whose fate is known count in the rates: answered or abandoned. Work still waiting is neither.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class IntervalCounts:
    interval_start: datetime
    pool: str
    channel: str
    arrived: int
    abandoned: int
    waits_s: Sequence[float]
    """Queued → first accepted, of every answered contact."""


@dataclass(frozen=True)
class IntervalFigures:
    interval_start: datetime
    pool: str
    channel: str
    arrived: int
    answered: int
    abandoned: int
    answered_in_threshold: int
    threshold_s: int
    service_level: float | None
    abandon_rate: float | None
    asa_s: float | None
    """Average speed of answer."""


def figures(counts: IntervalCounts, threshold_s: int) -> IntervalFigures:
    answered = len(counts.waits_s)
    within = sum(1 for w in counts.waits_s if w <= threshold_s)
    settled = answered + counts.abandoned
    return IntervalFigures(
        interval_start=counts.interval_start,
        pool=counts.pool,
        channel=counts.channel,
        arrived=counts.arrived,
        answered=answered,
        abandoned=counts.abandoned,
        answered_in_threshold=within,
        threshold_s=threshold_s,
        service_level=within / settled if settled else None,
        abandon_rate=counts.abandoned / settled if settled else None,
        asa_s=sum(counts.waits_s) / answered if answered else None,
    )


def all_figures(rows: Sequence[IntervalCounts], thresholds: Mapping[str, int]) -> list[IntervalFigures]:
    return [figures(r, thresholds.get(r.channel, 60)) for r in rows]

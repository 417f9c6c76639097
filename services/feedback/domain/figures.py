"""Satisfaction figures from counted answers: satisfied share, 100-point mean, NPS, FCR and response rate."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tally:
    """Counts for one group (an agent, a team, a day …), as the database sums them."""

    sent: int = 0
    """Invitations that went out and were not reported undeliverable."""
    answered: int = 0
    csat_answers: int = 0
    csat_satisfied: int = 0
    """CSAT 4 or 5 (满意, 非常满意)."""
    csat_points: float = 0.0
    """Sum of CSAT answers on the 100-point scale."""
    nps_answers: int = 0
    promoters: int = 0
    """NPS 9–10."""
    detractors: int = 0
    """NPS 0–6."""
    solved_answers: int = 0
    first_contact_resolved: int = 0
    """Answered "solved" and resolved on the first contact by routing's account."""


@dataclass(frozen=True)
class Figures:
    sent: int
    answered: int
    response_rate: float | None
    """Percent of sent invitations answered."""
    satisfied_pct: float | None
    """Percent of CSAT answers that are 4 or 5."""
    mean_score_100: float | None
    """Mean CSAT on the 100-point scale."""
    nps: float | None
    """Percent promoters minus percent detractors, −100 … 100."""
    fcr_pct: float | None
    """Percent of "was it solved?" answers that are yes on a contact routing resolved at first contact."""
    csat_answers: int
    nps_answers: int


def _pct(part: float, whole: int) -> float | None:
    return None if whole == 0 else round(100.0 * part / whole, 1)


def figures(tally: Tally) -> Figures:
    """None where nothing was counted: no answers is not 0 % satisfied."""
    nps = None
    if tally.nps_answers:
        nps = round(100.0 * (tally.promoters - tally.detractors) / tally.nps_answers, 1)
    return Figures(
        sent=tally.sent,
        answered=tally.answered,
        response_rate=_pct(tally.answered, tally.sent),
        satisfied_pct=_pct(tally.csat_satisfied, tally.csat_answers),
        mean_score_100=None if not tally.csat_answers else round(tally.csat_points / tally.csat_answers, 1),
        nps=nps,
        fcr_pct=_pct(tally.first_contact_resolved, tally.solved_answers),
        csat_answers=tally.csat_answers,
        nps_answers=tally.nps_answers,
    )

"""Figures from counts: satisfied share, 100-point mean, NPS, FCR and response rate."""

from __future__ import annotations

from services.feedback.domain.figures import Tally, figures


def test_figures_from_counted_answers() -> None:
    tally = Tally(
        sent=40,
        answered=10,
        csat_answers=10,
        csat_satisfied=8,
        csat_points=860.0,
        nps_answers=8,
        promoters=4,
        detractors=2,
        solved_answers=10,
        first_contact_resolved=7,
    )
    f = figures(tally)
    assert (f.response_rate, f.satisfied_pct, f.mean_score_100, f.nps, f.fcr_pct) == (25.0, 80.0, 86.0, 25.0, 70.0)


def test_no_answers_means_no_figure_not_zero() -> None:
    f = figures(Tally(sent=3))
    assert f.response_rate == 0.0
    assert (f.satisfied_pct, f.mean_score_100, f.nps, f.fcr_pct) == (None, None, None, None)
    assert figures(Tally()).response_rate is None


def test_nps_runs_from_minus_100_to_100() -> None:
    assert figures(Tally(nps_answers=5, detractors=5)).nps == -100.0
    assert figures(Tally(nps_answers=5, promoters=5)).nps == 100.0

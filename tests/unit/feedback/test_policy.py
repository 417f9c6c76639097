"""Policies that cannot work are refused with every reason; the page speaks the contact's language."""

from __future__ import annotations

import dataclasses
from datetime import time, timedelta

import pytest

from services.feedback.domain.policy import (
    InvalidPolicy,
    Option,
    QuietHours,
    page_language,
    questions_from_json,
    questions_to_json,
    validate_policy,
)
from tests.unit.feedback.builders import make_policy


def test_the_default_policy_is_valid_and_its_questions_survive_json() -> None:
    policy = make_policy()
    assert validate_policy(policy) is policy
    assert questions_from_json(questions_to_json(policy.questions)) == policy.questions


def test_an_unworkable_policy_is_refused_with_every_problem() -> None:
    policy = make_policy(
        invite_channel="fax",
        delay=timedelta(minutes=-1),
        expiry=timedelta(0),
        sampling_rate=1.5,
        time_zone="Nowhere/Land",
        quiet_hours=QuietHours(time(8), time(8)),
        languages=("zh-Hans", "fr"),
    )
    with pytest.raises(InvalidPolicy) as refused:
        validate_policy(policy)
    text = " | ".join(refused.value.problems)
    for expected in ("invite_channel", "delay", "expiry", "sampling_rate", "Nowhere/Land", "quiet hours", "'fr'"):
        assert expected in text


def test_csat_needs_all_five_levels_with_points_and_labels_in_every_language() -> None:
    csat = make_policy().questions[0]
    four_levels = dataclasses.replace(csat, options=csat.options[:4])
    unlabelled = dataclasses.replace(
        csat, options=(*csat.options[:4], Option(1, {"zh-Hans": "非常不满意"}, points=20.0))
    )
    no_points = dataclasses.replace(
        csat, options=(*csat.options[:4], dataclasses.replace(csat.options[4], points=None))
    )
    for broken, needle in (
        (four_levels, "exactly 1–5"),
        (unlabelled, "no label in zh-Hant"),
        (no_points, "points"),
    ):
        with pytest.raises(InvalidPolicy, match=needle):
            validate_policy(make_policy(questions=(broken, *make_policy().questions[1:])))


def test_questions_appear_once_and_one_of_them_is_scored() -> None:
    questions = make_policy().questions
    with pytest.raises(InvalidPolicy, match="once"):
        validate_policy(make_policy(questions=(questions[0], questions[0])))
    with pytest.raises(InvalidPolicy, match="scored"):
        validate_policy(make_policy(questions=(questions[3],)))


@pytest.mark.parametrize(
    ("contact_language", "page"),
    [
        ("zh-CN", "zh-Hans"),
        ("zh", "zh-Hans"),
        ("zh-Hans-CN", "zh-Hans"),
        ("zh_TW", "zh-Hant"),
        ("zh-HK", "zh-Hant"),
        ("zh-Hant", "zh-Hant"),
        ("en-GB", "en"),
        ("en", "en"),
        ("fr", "zh-Hans"),
        (None, "zh-Hans"),
        ("", "zh-Hans"),
    ],
)
def test_the_page_speaks_simplified_traditional_or_english_by_the_contacts_language(
    contact_language: str | None, page: str
) -> None:
    assert page_language(contact_language, ("zh-Hans", "zh-Hant", "en")) == page


def test_a_language_the_policy_does_not_offer_falls_back_to_its_first() -> None:
    assert page_language("en-US", ("zh-Hans", "zh-Hant")) == "zh-Hans"

"""Policies that cannot work are refused with every reason; the page speaks the contact's language, or the one
the browser weighs highest."""

from __future__ import annotations

import dataclasses
import random
from datetime import time, timedelta

import pytest

from services.feedback.domain.policy import (
    InvalidPolicy,
    Option,
    QuietHours,
    negotiate_language,
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


ALL = ("zh-Hans", "zh-Hant", "en")


@pytest.mark.parametrize(
    ("header", "offered", "page"),
    [
        ("en;q=0.1, zh-CN;q=0.9", ALL, "zh-Hans"),
        ("zh-TW,zh;q=0.9,en-US;q=0.8,en;q=0.7", ALL, "zh-Hant"),
        ("en-US,en;q=0.9,zh-CN;q=0.8", ALL, "en"),
        ("fr-FR, fr;q=0.9, en;q=0.5, zh-HK;q=0.6", ALL, "zh-Hant"),
        ("zh-MO", ALL, "zh-Hant"),
        ("zh-Hant-HK", ALL, "zh-Hant"),
        ("yue-HK, en;q=0.5", ALL, "zh-Hant"),
        ("zh-Hans-SG", ALL, "zh-Hans"),
        ("ZH_cn", ALL, "zh-Hans"),
        ("zh-CN;q=0.5, en;q=0.5", ALL, "zh-Hans"),
        ("en;q=0.5, zh-CN;q=0.5", ALL, "en"),
        ("zh-CN;q=bad, en", ALL, "en"),
        ("zh-CN;q=2, en;q=0.3", ALL, "en"),
        ("en;q=0, *", ALL, "zh-Hans"),
        ("de, *;q=0.2", ("en", "zh-Hans"), "en"),
        ("zh-TW, en;q=0.8", ("zh-Hans", "en"), "en"),
        ("zh-TW", ("zh-Hans", "en"), None),
        ("fr, de;q=0.8", ALL, None),
        ("", ALL, None),
        ("*;q=0", ALL, None),
    ],
)
def test_the_browser_language_weighed_highest_wins(
    header: str, offered: tuple[str, ...], page: str | None
) -> None:
    assert negotiate_language(header, offered) == page


def naive_negotiation(header: str, offered: tuple[str, ...]) -> str | None:
    """The rule said plainly: the items sorted by weight (stable), the first whose language is offered."""
    items = []
    for item in header.split(","):
        tag, _, q = item.strip().partition(";q=")
        items.append((float(q) if q else 1.0, tag.lower()))
    for weight, tag in sorted(items, key=lambda pair: -pair[0]):
        parts = tag.split("-")
        if parts[0] == "yue" or (parts[0] == "zh" and {"hant", "tw", "hk", "mo"} & set(parts)):
            page = "zh-Hant"
        elif parts[0] in ("zh", "en"):
            page = "zh-Hans" if parts[0] == "zh" else "en"
        else:
            continue
        if weight > 0 and page in offered:
            return page
    return None


def test_negotiation_agrees_with_the_naive_rule_on_random_headers() -> None:
    tags = ["zh-CN", "zh-TW", "zh-HK", "zh", "zh-Hant", "en", "en-GB", "fr", "de-DE", "ja", "yue"]
    weights = ["", ";q=1", ";q=0.9", ";q=0.5", ";q=0.1", ";q=0"]
    rng = random.Random(18)
    for _ in range(2000):
        header = ", ".join(rng.choice(tags) + rng.choice(weights) for _ in range(rng.randint(1, 5)))
        offered = rng.choice([ALL, ("zh-Hans", "en"), ("zh-Hant",), ("en", "zh-Hant")])
        assert negotiate_language(header, offered) == naive_negotiation(header, offered), (header, offered)

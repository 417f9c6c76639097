"""Answers from the page, adapters' structured answers and free replies; the low-score rule."""

from __future__ import annotations

import pytest

from services.feedback.domain.answers import (
    Answers,
    ChannelNotAllowed,
    InvalidAnswers,
    check_scope,
    csat_points,
    followup_reasons,
    parse_reply,
    validate_answers,
)
from tests.unit.feedback.builders import make_policy

POLICY = make_policy()


def test_form_values_become_typed_answers() -> None:
    answers = validate_answers({"csat": "4", "nps": "9", "solved": "1", "comment": "  很快  "}, POLICY)
    assert answers == Answers(csat=4, nps=9, solved=True, comment="很快")


def test_csat_is_required_and_scales_are_bounded() -> None:
    with pytest.raises(InvalidAnswers) as missing:
        validate_answers({"nps": "9"}, POLICY)
    assert missing.value.errors == {"csat": "required"}
    with pytest.raises(InvalidAnswers) as bad:
        validate_answers({"csat": "6", "nps": "11", "solved": "maybe"}, POLICY)
    assert set(bad.value.errors) == {"csat", "nps", "solved"}
    with pytest.raises(InvalidAnswers) as not_asked:
        validate_answers({"csat": 5, "mood": "great"}, POLICY)
    assert "mood" in not_asked.value.errors


def test_a_booleans_is_not_a_score_and_a_huge_comment_is_refused() -> None:
    with pytest.raises(InvalidAnswers):
        validate_answers({"csat": True}, POLICY)
    with pytest.raises(InvalidAnswers) as long:
        validate_answers({"csat": 5, "comment": "好" * 2001}, POLICY)
    assert long.value.errors["comment"].startswith("at most")


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("5", Answers(csat=5)),
        (" ５ ", Answers(csat=5)),  # full-width digit from a Chinese keyboard
        ("1 2", Answers(csat=1, solved=False)),  # IVR: solved 2 = no
        ("4,1,10", Answers(csat=4, solved=True, nps=10)),
        ("非常满意", Answers(csat=5)),
        ("满意！", Answers(csat=4)),
        ("非常不滿意", Answers(csat=1)),
        ("Very dissatisfied", Answers(csat=1)),
        ("2 等了太久", Answers(csat=2, comment="等了太久")),
    ],
)
def test_sms_and_ivr_replies_map_to_the_questions_in_order(reply: str, expected: Answers) -> None:
    assert parse_reply(reply, POLICY) == expected


@pytest.mark.parametrize("reply", ["", "   ", "9", "5 1 9 9", "你好"])
def test_replies_that_answer_nothing_sensibly_are_refused(reply: str) -> None:
    with pytest.raises(InvalidAnswers):
        parse_reply(reply, POLICY)


@pytest.mark.parametrize(
    ("answers", "reasons"),
    [
        (Answers(csat=5, nps=10, solved=True), ()),
        (Answers(csat=3, nps=7, solved=True), ()),
        (Answers(csat=2), ("csat",)),
        (Answers(csat=1), ("csat",)),
        (Answers(csat=4, nps=6), ("nps",)),
        (Answers(csat=5, solved=False), ("not_solved",)),
        (Answers(csat=1, nps=0, solved=False), ("not_solved", "csat", "nps")),
    ],
)
def test_csat_at_most_2_nps_at_most_6_or_not_solved_raise_a_followup(
    answers: Answers, reasons: tuple[str, ...]
) -> None:
    assert followup_reasons(answers, POLICY) == reasons


def test_the_low_score_limits_are_the_policys() -> None:
    strict = make_policy(low_csat_max=3, low_nps_max=7)
    assert followup_reasons(Answers(csat=3, nps=7), strict) == ("csat", "nps")


def test_csat_maps_to_the_100_point_scale_by_the_policys_points() -> None:
    assert [csat_points(Answers(csat=v), POLICY) for v in (5, 4, 3, 2, 1)] == [100, 80, 60, 40, 20]
    assert csat_points(Answers(nps=9), POLICY) is None


def test_an_adapter_key_must_cover_the_invitation_channel_or_the_contacts() -> None:
    check_scope(frozenset({"sms"}), ("sms", "phone"))
    check_scope(frozenset({"phone"}), ("sms", "phone"))
    with pytest.raises(ChannelNotAllowed, match="sms or phone"):
        check_scope(frozenset({"email"}), ("sms", "phone"))
    with pytest.raises(ChannelNotAllowed):
        check_scope(frozenset(), ("sms", None))

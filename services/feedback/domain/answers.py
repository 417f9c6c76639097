"""Answers to a survey, from a form, an adapter's structured answers or a free reply ("5", "5 9 1", "满意"),
and the low-score rule that closes the loop."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from services.feedback.domain.policy import Question, SurveyPolicy

FollowupReason = Literal["csat", "nps", "not_solved"]
MAX_COMMENT = 2000

_YES = {"yes", "y", "是", "是的", "已解决", "已解決", "解决了", "解決了", "solved", "true"}
_NO = {"no", "n", "否", "没有", "沒有", "未解决", "未解決", "没解决", "沒解決", "not solved", "false"}


class InvalidAnswers(ValueError):
    """`errors` maps a question key (or `answers`) to what is wrong with it, for the page and the API."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = dict(errors)


@dataclass(frozen=True)
class Answers:
    csat: int | None = None
    nps: int | None = None
    solved: bool | None = None
    comment: str | None = None

    @property
    def empty(self) -> bool:
        return self.csat is None and self.nps is None and self.solved is None and not self.comment

    def scores(self) -> dict[str, int | bool | None]:
        return {"csat": self.csat, "nps": self.nps, "solved": self.solved}


def validate_answers(raw: Mapping[str, object], policy: SurveyPolicy) -> Answers:
    """Check values against the policy's questions; blank optional questions are None."""
    errors: dict[str, str] = {}
    values: dict[str, object] = {}
    asked = {q.key for q in policy.questions}
    for key in raw:
        if key not in asked and raw[key] not in (None, ""):
            errors[key] = "this survey does not ask it"
    for question in policy.questions:
        value = raw.get(question.key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if question.required:
                errors[question.key] = "required"
            continue
        try:
            values[question.key] = _coerce(question, value)
        except ValueError as exc:
            errors[question.key] = str(exc)
    if errors:
        raise InvalidAnswers(errors)
    answers = Answers(
        csat=_int_or_none(values.get("csat")),
        nps=_int_or_none(values.get("nps")),
        solved=_bool_or_none(values.get("solved")),
        comment=_str_or_none(values.get("comment")),
    )
    if answers.empty:
        raise InvalidAnswers({"answers": "answer at least one question"})
    return answers


def _coerce(question: Question, value: object) -> int | bool | str:
    if question.key == "comment":
        text = unicodedata.normalize("NFC", str(value)).strip()
        if len(text) > MAX_COMMENT:
            raise ValueError(f"at most {MAX_COMMENT} characters")
        return text
    if question.key == "solved":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", *_YES):
            return True
        if text in ("0", "2", *_NO):
            return False
        raise ValueError("yes or no")
    if isinstance(value, bool):
        raise ValueError("a number")
    try:
        number = int(str(value).strip())
    except ValueError as exc:
        raise ValueError("a number") from exc
    if question.option(number) is None:
        values = [o.value for o in question.options]
        raise ValueError(f"between {min(values)} and {max(values)}")
    return number


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _bool_or_none(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def parse_reply(text: str, policy: SurveyPolicy) -> Answers:
    """A free reply from SMS, IVR or a chat: numbers answer the scored questions in the policy's order
    ("5", "5 9", "5,9,1"; for solved 1 = yes, 2 = no, as IVR menus say it), a CSAT label in any language
    answers CSAT ("满意"), and whatever words are left become the comment."""
    text = unicodedata.normalize("NFKC", text).strip()
    if not text:
        raise InvalidAnswers({"reply": "empty reply"})
    scored = [q for q in policy.questions if q.key in ("csat", "nps", "solved")]
    raw: dict[str, object] = {}
    label = _csat_by_label(text, policy)
    if label is not None:
        raw["csat"] = label
        remainder = ""
    else:
        remainder = text
        numbers = re.match(r"^\s*((?:\d+[\s,，;；/]*)+)", text)
        if numbers is not None:
            digits = re.findall(r"\d+", numbers.group(1))
            if len(digits) > len(scored):
                raise InvalidAnswers({"reply": f"{len(digits)} numbers for {len(scored)} questions"})
            for question, digit in zip(scored, digits, strict=False):
                raw[question.key] = digit
            remainder = text[numbers.end() :].strip()
    if remainder and policy.question("comment") is not None:
        raw["comment"] = remainder
    elif remainder:
        raise InvalidAnswers({"reply": "not understood"})
    return validate_answers(raw, policy)


def _csat_by_label(text: str, policy: SurveyPolicy) -> int | None:
    question = policy.question("csat")
    if question is None:
        return None
    folded = "".join(c for c in text if not unicodedata.category(c).startswith("P")).strip().casefold()
    # Longest label first, so 非常满意 is not read as 满意.
    candidates = sorted(
        ((label.casefold(), option.value) for option in question.options for label in option.labels.values()),
        key=lambda pair: -len(pair[0]),
    )
    return next((value for label, value in candidates if folded == label), None)


def followup_reasons(answers: Answers, policy: SurveyPolicy) -> tuple[FollowupReason, ...]:
    """The low-score rule (RULES.md, FB-08): not solved, CSAT ≤ the policy's limit, NPS ≤ its limit."""
    reasons: list[FollowupReason] = []
    if answers.solved is False:
        reasons.append("not_solved")
    if answers.csat is not None and answers.csat <= policy.low_csat_max:
        reasons.append("csat")
    if answers.nps is not None and answers.nps <= policy.low_nps_max:
        reasons.append("nps")
    return tuple(reasons)


def csat_points(answers: Answers, policy: SurveyPolicy) -> float | None:
    """The CSAT answer on the 100-point scale, as the policy maps it (非常满意 100 … 非常不满意 20 by default)."""
    question = policy.question("csat")
    if answers.csat is None or question is None:
        return None
    option = question.option(answers.csat)
    return None if option is None else option.points


class SurveyUnavailable(Exception):
    """Why an invitation cannot take an answer now; `kind` names the page or problem to show."""

    kind = "unavailable"

    def __init__(self, language: str | None = None) -> None:
        super().__init__(self.kind)
        self.language = language
        """The invitation's language, when there is one, so the customer is told in it."""


class UnknownInvitation(SurveyUnavailable):
    kind = "unknown"


class AlreadyAnswered(SurveyUnavailable):
    kind = "answered"


class SurveyExpired(SurveyUnavailable):
    kind = "expired"


class SurveyWithdrawn(SurveyUnavailable):
    """Never sent, or withdrawn because the contact was reopened."""

    kind = "withdrawn"


class ChannelNotAllowed(Exception):
    """An adapter acting on an invitation of a channel its key is not scoped to."""

    def __init__(self, channels: tuple[str, ...]) -> None:
        super().__init__(f"this key is not scoped to {' or '.join(channels)}")
        self.channels = channels


def check_scope(scopes: frozenset[str], invitation_channels: tuple[str | None, ...]) -> None:
    """An adapter may act on an invitation sent on, or about a contact on, a channel its key covers."""
    named = tuple(c for c in invitation_channels if c)
    if not scopes.intersection(named):
        raise ChannelNotAllowed(named)

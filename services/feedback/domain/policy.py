"""Survey policies: one per contact channel, with its questions, timing, quiet hours, cap and sampling."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

LANGUAGES: tuple[str, ...] = ("zh-Hans", "zh-Hant", "en")
"""Languages the survey page and the invitation templates speak."""
INVITE_CHANNELS: tuple[str, ...] = ("sms", "email", "chat")
"""How an invitation reaches the customer: a link by SMS or e-mail, or inline questions in the chat."""
QUESTION_KEYS: tuple[str, ...] = ("csat", "nps", "solved", "comment")
QuestionKey = Literal["csat", "nps", "solved", "comment"]
_SCALES: dict[str, tuple[int, int]] = {"csat": (1, 5), "nps": (0, 10), "solved": (0, 1)}


class InvalidPolicy(ValueError):
    """A policy an admin tried to save that cannot work; `problems` says every reason."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)


@dataclass(frozen=True)
class Option:
    value: int
    labels: Mapping[str, str]
    """Per language."""
    points: float | None = None
    """This answer on the 100-point scale (CSAT), the way the seeds report satisfaction."""


@dataclass(frozen=True)
class Question:
    key: QuestionKey
    prompt: Mapping[str, str]
    """Per language."""
    required: bool = False
    options: tuple[Option, ...] = ()
    """Ordered as shown; empty for the free comment."""

    def option(self, value: int) -> Option | None:
        return next((o for o in self.options if o.value == value), None)


@dataclass(frozen=True)
class QuietHours:
    """Local times between which no invitation goes out; `start > end` wraps midnight (21:00–08:00)."""

    start: time
    end: time

    def contains(self, local: time) -> bool:
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


@dataclass(frozen=True)
class SurveyPolicy:
    channel: str
    """The contact's channel this policy applies to."""
    invite_channel: str
    delay: timedelta
    """After resolution."""
    expiry: timedelta
    """After sending."""
    time_zone: str
    """Quiet hours are read in the customer's time zone; this one when theirs is unknown."""
    frequency_cap: timedelta
    """At most one survey per customer within this period; zero means no cap."""
    sampling_rate: float
    """Share of resolved contacts that are surveyed, 0–1."""
    questions: tuple[Question, ...]
    languages: tuple[str, ...]
    """The first is the fallback when the contact's language is not offered."""
    enabled: bool = True
    quiet_hours: QuietHours | None = None
    low_csat_max: int = 2
    """CSAT at or below this raises a follow-up (回访)."""
    low_nps_max: int = 6
    """NPS at or below this raises a follow-up (回访)."""
    version: int = 1
    extras: Mapping[str, Any] = field(default_factory=dict)

    def question(self, key: str) -> Question | None:
        return next((q for q in self.questions if q.key == key), None)


def validate_policy(policy: SurveyPolicy) -> SurveyPolicy:
    """Return the policy if it can work, else raise `InvalidPolicy` with every problem found."""
    problems: list[str] = []
    if policy.invite_channel not in INVITE_CHANNELS:
        problems.append(f"invite_channel must be one of {', '.join(INVITE_CHANNELS)}")
    if policy.delay < timedelta(0):
        problems.append("delay cannot be negative")
    if policy.expiry <= timedelta(0):
        problems.append("expiry must be positive")
    if policy.frequency_cap < timedelta(0):
        problems.append("frequency_cap cannot be negative")
    if not 0.0 <= policy.sampling_rate <= 1.0:
        problems.append("sampling_rate is a share between 0 and 1")
    if policy.quiet_hours is not None and policy.quiet_hours.start == policy.quiet_hours.end:
        problems.append("quiet hours start and end at the same time; leave them out for none")
    try:
        ZoneInfo(policy.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"unknown time zone {policy.time_zone!r}")
    if not policy.languages:
        problems.append("at least one language")
    problems.extend(f"unknown language {lang!r}" for lang in policy.languages if lang not in LANGUAGES)
    problems.extend(_question_problems(policy))
    if problems:
        raise InvalidPolicy(problems)
    return policy


def _question_problems(policy: SurveyPolicy) -> list[str]:
    problems: list[str] = []
    keys = [q.key for q in policy.questions]
    if not keys:
        problems.append("at least one question")
    if len(set(keys)) != len(keys):
        problems.append("each question appears once")
    if not any(k in keys for k in _SCALES):
        problems.append("at least one scored question (csat, nps or solved)")
    for question in policy.questions:
        if question.key not in QUESTION_KEYS:
            problems.append(f"unknown question {question.key!r}; one of {', '.join(QUESTION_KEYS)}")
            continue
        missing = [lang for lang in policy.languages if not question.prompt.get(lang)]
        if missing:
            problems.append(f"{question.key}: no prompt in {', '.join(missing)}")
        scale = _SCALES.get(question.key)
        if scale is None:
            if question.options:
                problems.append(f"{question.key}: a free comment has no options")
            continue
        values = sorted(o.value for o in question.options)
        if values != list(range(scale[0], scale[1] + 1)):
            problems.append(f"{question.key}: options must be exactly {scale[0]}–{scale[1]}")
        for option in question.options:
            gaps = [lang for lang in policy.languages if not option.labels.get(lang)]
            if gaps:
                problems.append(f"{question.key} {option.value}: no label in {', '.join(gaps)}")
        if question.key == "csat" and any(o.points is None or not 0 <= o.points <= 100 for o in question.options):
            problems.append("csat: every option needs points between 0 and 100")
    return problems


def page_language(contact_language: str | None, offered: Sequence[str]) -> str:
    """The page's language for a contact: Traditional for zh-TW/HK/MO and Hant, Simplified for other zh."""
    fallback = offered[0] if offered else LANGUAGES[0]
    if not contact_language:
        return fallback
    tag = contact_language.strip().replace("_", "-").lower()
    if tag.startswith("zh"):
        traditional = any(part in tag.split("-") for part in ("hant", "tw", "hk", "mo"))
        wanted = "zh-Hant" if traditional else "zh-Hans"
    elif tag.startswith("en"):
        wanted = "en"
    else:
        return fallback
    return wanted if wanted in offered else fallback


# --- JSON form (the policy's questions are stored and served as JSON) --------------------------------------


def questions_to_json(questions: Sequence[Question]) -> list[dict[str, Any]]:
    return [
        {
            "key": q.key,
            "required": q.required,
            "prompt": dict(q.prompt),
            "options": [{"value": o.value, "labels": dict(o.labels), "points": o.points} for o in q.options],
        }
        for q in questions
    ]


def questions_from_json(data: Sequence[Mapping[str, Any]]) -> tuple[Question, ...]:
    return tuple(
        Question(
            key=q["key"],
            required=bool(q.get("required", False)),
            prompt=dict(q.get("prompt", {})),
            options=tuple(
                Option(
                    value=int(o["value"]),
                    labels=dict(o.get("labels", {})),
                    points=None if o.get("points") is None else float(o["points"]),
                )
                for o in q.get("options", ())
            ),
        )
        for q in data
    )

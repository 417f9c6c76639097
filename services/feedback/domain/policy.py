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
    """The page's language for a contact: Traditional for zh-TW/HK/MO and Hant, Simplified for other zh; the
    first offered when the contact's is not offered."""
    return offered_language(contact_language, offered) or (offered[0] if offered else LANGUAGES[0])


def offered_language(tag: str | None, offered: Sequence[str]) -> str | None:
    """The offered page language a language tag asks for (as `page_language` reads it), or None."""
    wanted = _page_code(tag or "")
    return wanted if wanted is not None and wanted in offered else None


def negotiate_language(accept_language: str, offered: Sequence[str]) -> str | None:
    """The offered page language a browser's `Accept-Language` prefers most, or None if it names none of them.

    Weights are honoured (RFC 9110 §12.5.4): the highest q wins, equal weights keep the header's order, q=0
    refuses a language no other item asks for, and `*` stands for any offered language the header does not
    name. Tags are read as
    `page_language` reads them (zh-TW, zh-HK, zh-MO, zh-Hant and Cantonese → zh-Hant; other zh → zh-Hans).
    """
    weighed: list[tuple[float, int, str]] = []
    named: set[str] = set()
    anything: tuple[float, int] | None = None
    for position, item in enumerate(accept_language.split(",")):
        tag, _, params = item.partition(";")
        weight = _weight(params)
        if not tag.strip() or weight is None:
            continue
        if tag.strip() == "*":
            anything = (weight, position)
            continue
        code = _page_code(tag)
        if code is not None:
            named.add(code)
            weighed.append((weight, position, code))
    if anything is not None:
        weighed.extend((anything[0], anything[1], code) for code in offered if code not in named)
    best = [(-weight, position, code) for weight, position, code in weighed if weight > 0 and code in offered]
    return min(best)[2] if best else None


def _weight(params: str) -> float | None:
    """The q of one Accept-Language item (1 when absent); None when it is not a valid weight."""
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                weight = float(value.strip())
            except ValueError:
                return None
            return weight if 0 <= weight <= 1 else None
    return 1.0


def _page_code(tag: str) -> str | None:
    parts = tag.strip().replace("_", "-").lower().split("-")
    if parts[0] == "yue" or (parts[0] == "zh" and "yue" in parts):
        return "zh-Hant"  # Cantonese is written in Traditional characters (Hong Kong, Macau)
    if parts[0] == "zh":
        return "zh-Hant" if any(part in parts for part in ("hant", "tw", "hk", "mo")) else "zh-Hans"
    if parts[0] == "en":
        return "en"
    return None


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

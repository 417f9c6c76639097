"""Classification rules (admin-edited data) applied to a contact: category, priority class, emergency, skills.

A rule set is a document: the category → priority class and category → skills tables and an ordered list of
rules. Every rule that matches contributes: the first one naming a category sets it; emergency flags and skills
add up; the priority class is the category's, raised by any rule's override and forced to `urgent` by an
emergency. Rules and texts are both folded by `shared.text.fold` (NFKC, case, Traditional as Simplified with
OpenCC's phrase tables), so one keyword list serves both scripts; English keywords match whole words. Patterns
are regular expressions over the folded text, matched case-insensitively by RE2: linear in the text whatever
the pattern (`(a+)+$` cannot stall the event loop), within a memory bound; what RE2 cannot run (backreferences,
look-around) is refused when the rule set is saved.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import re2

from shared.text import fold, fold_script

PATTERN_MEMORY_BYTES = 8 << 20
"""RE2's memory budget for one compiled pattern; a pattern that needs more is refused when saved."""


class Pattern(Protocol):
    """A compiled classification pattern (RE2)."""

    @property
    def pattern(self) -> str: ...

    def search(self, text: str) -> object | None: ...


def compile_pattern(pattern: str) -> Pattern:
    """A rule's pattern as RE2 runs it: NFKC and script-folded like the texts, case-insensitive (RE2's own
    option, which never turns `\\S \\D \\W \\B` into their opposites). Raises `re2.error` if RE2 cannot
    run it."""
    options = re2.Options()
    options.case_sensitive = False
    options.max_mem = PATTERN_MEMORY_BYTES
    options.log_errors = False
    compiled: Pattern = re2.compile(fold_script(unicodedata.normalize("NFKC", pattern)), options)
    return compiled


CATEGORIES: tuple[str, ...] = (
    "enquiry",
    "complaint",
    "suggestion",
    "system_fault",
    "data_anomaly",
    "service_interruption",
    "security_event",
    "data_leak",
)
PRIORITY_CLASSES: tuple[str, ...] = ("routine", "complex", "urgent")
EMERGENCY_REASONS: tuple[str, ...] = ("safety", "privacy", "major_complaint", "security", "major_failure")
INCIDENT_LEVELS: tuple[str, ...] = ("general", "major", "serious", "critical")
"""Security incidents (F17, ES-05): 一般 / 较大 / 重大 / 特别重大, in rising order."""
INCIDENT_CATEGORIES = frozenset({"security_event", "data_leak"})
"""Categories that are security incidents: they always have a level (一般 unless a rule says more)."""
_CHANNELS = ("phone", "email", "chat", "web", "sms", "social", "onsite")
_CUSTOMER_FIELDS = ("grade", "value_tier", "risk_level", "lifecycle_stage", "pii_level")


class InvalidRules(ValueError):
    """The rule set document is not valid; the message names the rule and field."""


@dataclass(frozen=True)
class Condition:
    any_keywords: tuple[str, ...] = ()
    all_keywords: tuple[str, ...] = ()
    none_keywords: tuple[str, ...] = ()
    patterns: tuple[Pattern, ...] = ()
    channels: tuple[str, ...] = ()
    ivr_selections: tuple[str, ...] = ()
    customer: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    category: str | None = None
    priority_class: str | None = None
    emergency: str | None = None
    """The emergency reason (safety, privacy, major_complaint, security, major_failure) if this rule raises one."""
    skills: tuple[str, ...] = ()
    subcategory: str | None = None
    """Level 2, or level 2 and 3 as `level2/level3`, under the category the contact ends with (RULES.md: free
    sub-types under each level-1 category, named in the rule set's `subcategories`)."""
    incident_level: str | None = None
    """For a security incident: at least this level."""


@dataclass(frozen=True)
class Rule:
    rule_id: str
    description: str
    when: Condition
    then: Outcome
    enabled: bool = True


@dataclass(frozen=True)
class RuleSet:
    version: int
    rules: tuple[Rule, ...]
    priority_by_category: Mapping[str, str]
    skills_by_category: Mapping[str, tuple[str, ...]]
    default_category: str = "enquiry"
    subcategories: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)
    """Level-1 category → its level-2 sub-types → their level-3 sub-types (admin-edited data)."""
    skills_by_subcategory: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """`category/level2` (or `category/level2/level3`) → skills routing must find for it."""
    document: Mapping[str, Any] = field(default_factory=dict)
    """The document as stored, for the admin API to hand back."""
    keywords: Keywords = field(init=False, repr=False, compare=False)
    """Every keyword of the rules, indexed so a text is searched for all of them at once."""

    def __post_init__(self) -> None:
        conditions = [rule.when for rule in self.rules]
        every = {k for c in conditions for k in (*c.any_keywords, *c.all_keywords, *c.none_keywords)}
        object.__setattr__(self, "keywords", Keywords(every))


@dataclass(frozen=True)
class Facts:
    """What rules look at."""

    text: str
    subject: str = ""
    channel: str = "email"
    ivr_selections: tuple[str, ...] = ()
    customer: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Firing:
    rule_id: str
    description: str
    reasons: tuple[str, ...]
    outcome: Outcome


@dataclass(frozen=True)
class Classification:
    category: str
    priority_class: str
    emergency: bool
    emergency_reasons: tuple[str, ...]
    required_skills: tuple[str, ...]
    fired: tuple[Firing, ...]
    subcategory: str | None = None
    """`level2` or `level2/level3` under `category`."""
    incident_level: str | None = None
    """general, major, serious or critical for security incidents (security_event, data_leak); else None."""

    @property
    def by(self) -> str:
        return f"rule:{self.fired[0].rule_id}" if self.fired else "rule:default"


def classify(rules: RuleSet, facts: Facts) -> Classification:
    haystack = fold(f"{facts.subject}\n{facts.text}")
    found = rules.keywords.found_in(haystack)
    fired = [
        Firing(rule.rule_id, rule.description, reasons, rule.then)
        for rule in rules.rules
        if rule.enabled and (reasons := _match(rule.when, haystack, found, facts)) is not None
    ]
    category = next((f.outcome.category for f in fired if f.outcome.category), rules.default_category)
    emergency_reasons = tuple(dict.fromkeys(f.outcome.emergency for f in fired if f.outcome.emergency))
    priority = rules.priority_by_category.get(category, "routine")
    for firing in fired:
        if firing.outcome.priority_class and _rank(firing.outcome.priority_class) > _rank(priority):
            priority = firing.outcome.priority_class
    if emergency_reasons:
        priority = "urgent"
    skills = list(rules.skills_by_category.get(category, ()))
    for firing in fired:
        skills.extend(firing.outcome.skills)
    # The first sub-type named for the category the contact ends with (a rule may name one under another).
    subcategory = next(
        (
            f.outcome.subcategory
            for f in fired
            if f.outcome.subcategory and valid_subcategory(rules, category, f.outcome.subcategory)
        ),
        None,
    )
    skills.extend(subcategory_skills(rules, category, subcategory))
    if emergency_reasons:
        skills.append("emergency")
    levels = [f.outcome.incident_level for f in fired if f.outcome.incident_level]
    incident_level = (
        max(levels or ["general"], key=INCIDENT_LEVELS.index) if category in INCIDENT_CATEGORIES else None
    )
    return Classification(
        category=category,
        priority_class=priority,
        emergency=bool(emergency_reasons),
        emergency_reasons=emergency_reasons,
        required_skills=tuple(dict.fromkeys(skills)),
        fired=tuple(fired),
        subcategory=subcategory,
        incident_level=incident_level,
    )


def valid_subcategory(rules: RuleSet, category: str, subcategory: str) -> bool:
    """`level2` or `level2/level3` is one of the category's sub-types in the rule set."""
    level2, _, level3 = subcategory.partition("/")
    known = rules.subcategories.get(category, {})
    return level2 in known and (not level3 or level3 in known[level2])


def subcategory_skills(rules: RuleSet, category: str, subcategory: str | None) -> tuple[str, ...]:
    """Skills for the sub-type: its level 2's, then its level 3's."""
    if not subcategory:
        return ()
    level2 = subcategory.split("/", 1)[0]
    return (
        *rules.skills_by_subcategory.get(f"{category}/{level2}", ()),
        *(rules.skills_by_subcategory.get(f"{category}/{subcategory}", ()) if "/" in subcategory else ()),
    )


def more_urgent(new: Classification, old_priority: str, old_emergency: bool) -> bool:
    return (new.emergency and not old_emergency) or _rank(new.priority_class) > _rank(old_priority)


def _rank(priority_class: str) -> int:
    return PRIORITY_CLASSES.index(priority_class) if priority_class in PRIORITY_CLASSES else 0


def _match(when: Condition, haystack: str, found: frozenset[str], facts: Facts) -> tuple[str, ...] | None:
    """The reasons a rule matches, or None. A rule with no condition at all never matches."""
    reasons: list[str] = []
    if when.channels:
        if facts.channel not in when.channels:
            return None
        reasons.append(f"channel is {facts.channel}")
    if when.ivr_selections:
        chosen = [s for s in facts.ivr_selections if s in when.ivr_selections]
        if not chosen:
            return None
        reasons.append(f"IVR selection {', '.join(chosen)}")
    for name, allowed in when.customer.items():
        value = facts.customer.get(name)
        if value not in allowed:
            return None
        reasons.append(f"customer {name} is {value}")
    if when.any_keywords:
        hits = [k for k in when.any_keywords if k in found]
        if not hits:
            return None
        reasons.append("keyword " + ", ".join(f"“{k}”" for k in hits[:5]))
    if when.all_keywords:
        if not all(k in found for k in when.all_keywords):
            return None
        reasons.append("all of " + ", ".join(f"“{k}”" for k in when.all_keywords))
    if when.patterns:
        matched = [p for p in when.patterns if p.search(haystack)]
        if not matched:
            return None
        reasons.append("pattern " + ", ".join(f"/{p.pattern}/" for p in matched))
    if when.none_keywords:
        vetoes = [k for k in when.none_keywords if k in found]
        if vetoes:
            return None
    return tuple(reasons) if reasons else None


_ASCII_WORD = re.compile(r"^[a-z0-9][a-z0-9 '\-]*[a-z0-9]$|^[a-z0-9]$")
_WORD = re.compile(r"[a-z0-9]+")
_SUFFIXES = ("", "s", "es", "ed", "d", "ing")


class Keywords:
    """Keywords found in a folded text, all at once. English ones match whole words, so "sue" does not fire on
    "issue", with a trailing s/es/ed/d/ing ("refund" fires on "refunded"); anything else (Chinese, mixed) is
    found as a substring."""

    def __init__(self, keywords: Iterable[str]) -> None:
        self._by_word: dict[str, list[str]] = {}
        self._phrases: list[tuple[str, re.Pattern[str]]] = []
        self._substrings: list[str] = []
        for keyword in sorted(keywords):
            if _WORD.fullmatch(keyword):
                for suffix in _SUFFIXES:
                    self._by_word.setdefault(keyword + suffix, []).append(keyword)
            elif _ASCII_WORD.match(keyword):
                pattern = r"(?<![a-z0-9])" + re.escape(keyword) + r"(?:s|es|ed|d|ing)?(?![a-z0-9])"
                self._phrases.append((keyword, re.compile(pattern)))
            else:
                self._substrings.append(keyword)

    def found_in(self, text: str) -> frozenset[str]:
        found = {k for k in self._substrings if k in text}
        for word in self._by_word.keys() & set(_WORD.findall(text)):
            found.update(self._by_word[word])
        found.update(k for k, pattern in self._phrases if pattern.search(text))
        return frozenset(found)


# --- the document -------------------------------------------------------------------------------------------


def parse_ruleset(document: Mapping[str, Any], *, version: int) -> RuleSet:
    """Validate a rule set document (as the admin API receives it) and compile it."""
    if not isinstance(document, Mapping):
        raise InvalidRules("the rule set must be an object")
    priority = _mapping(document, "priority_by_category")
    for category, klass in priority.items():
        _check(category in CATEGORIES, f"priority_by_category: unknown category {category!r}")
        _check(
            klass in PRIORITY_CLASSES,
            f"priority_by_category.{category}: {klass!r} is not one of {PRIORITY_CLASSES}",
        )
    for category in CATEGORIES:
        _check(category in priority, f"priority_by_category: category {category!r} is missing")
    skills = {
        k: tuple(_strings(v, f"skills_by_category.{k}"))
        for k, v in _mapping(document, "skills_by_category").items()
    }
    for category in skills:
        _check(category in CATEGORIES, f"skills_by_category: unknown category {category!r}")
    subcategories = _subcategories(document.get("subcategories", {}))
    skills_by_subcategory = {
        str(k): tuple(_strings(v, f"skills_by_subcategory.{k}"))
        for k, v in _mapping(document, "skills_by_subcategory").items()
    }
    for key in skills_by_subcategory:
        category, _, rest = key.partition("/")
        known = subcategories.get(category, {})
        level2, _, level3 = rest.partition("/")
        _check(
            category in CATEGORIES and level2 in known and (not level3 or level3 in known[level2]),
            f"skills_by_subcategory: {key!r} is not a category/level2[/level3] of subcategories",
        )
    default = document.get("default_category", "enquiry")
    _check(default in CATEGORIES, f"default_category: unknown category {default!r}")
    raw_rules = document.get("rules", [])
    _check(isinstance(raw_rules, list), "rules must be a list")
    rules: list[Rule] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_rules):
        where = f"rules[{index}]"
        _check(isinstance(raw, Mapping), f"{where} must be an object")
        rule_id = raw.get("id")
        _check(isinstance(rule_id, str) and bool(rule_id.strip()), f"{where}.id must be a non-empty string")
        assert isinstance(rule_id, str)
        _check(rule_id not in seen, f"{where}.id {rule_id!r} is used twice")
        seen.add(rule_id)
        where = f"rule {rule_id!r}"
        rules.append(
            Rule(
                rule_id=rule_id,
                description=str(raw.get("description", "")),
                when=_condition(raw.get("when", {}), where),
                then=_outcome(raw.get("then", {}), where),
                enabled=bool(raw.get("enabled", True)),
            )
        )
    for rule in rules:
        wanted = rule.then.subcategory
        if wanted and rule.then.category:
            _check(
                _in_taxonomy(subcategories, rule.then.category, wanted),
                f"rule {rule.rule_id!r}.then.subcategory: {wanted!r} is not a sub-type of {rule.then.category!r}",
            )
        elif wanted:
            _check(
                any(_in_taxonomy(subcategories, c, wanted) for c in subcategories),
                f"rule {rule.rule_id!r}.then.subcategory: {wanted!r} is in no category's subcategories",
            )
    return RuleSet(
        version=version,
        rules=tuple(rules),
        priority_by_category=dict(priority),
        skills_by_category=skills,
        default_category=str(default),
        subcategories=subcategories,
        skills_by_subcategory=skills_by_subcategory,
        document=dict(document),
    )


def _in_taxonomy(taxonomy: Mapping[str, Mapping[str, tuple[str, ...]]], category: str, subcategory: str) -> bool:
    level2, _, level3 = subcategory.partition("/")
    known = taxonomy.get(category, {})
    return level2 in known and (not level3 or level3 in known[level2])


_SUBTYPE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def _subcategories(raw: object) -> dict[str, dict[str, tuple[str, ...]]]:
    """`{category: {level2: [level3, …]}}`, each name a lower-case slug."""
    _check(isinstance(raw, Mapping), "subcategories must be an object")
    assert isinstance(raw, Mapping)
    out: dict[str, dict[str, tuple[str, ...]]] = {}
    for category, level2s in raw.items():
        _check(category in CATEGORIES, f"subcategories: unknown category {category!r}")
        _check(isinstance(level2s, Mapping), f"subcategories.{category} must be an object of level-2 sub-types")
        assert isinstance(level2s, Mapping)
        out[category] = {}
        for level2, level3s in level2s.items():
            _check(
                bool(_SUBTYPE.match(str(level2))), f"subcategories.{category}: {level2!r} is not a lower-case slug"
            )
            names = tuple(_strings(level3s, f"subcategories.{category}.{level2}"))
            for name in names:
                _check(
                    bool(_SUBTYPE.match(name)),
                    f"subcategories.{category}.{level2}: {name!r} is not a lower-case slug",
                )
            out[category][str(level2)] = names
    return out


def _condition(raw: object, where: str) -> Condition:
    _check(isinstance(raw, Mapping), f"{where}.when must be an object")
    assert isinstance(raw, Mapping)
    known = {"any_keywords", "all_keywords", "none_keywords", "patterns", "channels", "ivr_selections", "customer"}
    unknown = set(raw) - known
    _check(not unknown, f"{where}.when: unknown field(s) {sorted(unknown)}; allowed: {sorted(known)}")
    patterns: list[Pattern] = []
    for pattern in _strings(raw.get("patterns", []), f"{where}.when.patterns"):
        try:
            patterns.append(compile_pattern(pattern))
        except re2.error as exc:
            reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else exc
            raise InvalidRules(
                f"{where}.when.patterns: {pattern!r} is not a valid regular expression for RE2 (linear time: no "
                f"backreferences or look-around): {reason}"
            ) from exc
    channels = tuple(_strings(raw.get("channels", []), f"{where}.when.channels"))
    for channel in channels:
        _check(channel in _CHANNELS, f"{where}.when.channels: unknown channel {channel!r}")
    customer_raw = raw.get("customer", {})
    _check(isinstance(customer_raw, Mapping), f"{where}.when.customer must be an object")
    customer: dict[str, tuple[str, ...]] = {}
    for name, values in customer_raw.items():
        _check(name in _CUSTOMER_FIELDS, f"{where}.when.customer: unknown attribute {name!r}")
        customer[name] = tuple(_strings(values, f"{where}.when.customer.{name}"))
    condition = Condition(
        any_keywords=tuple(fold(k) for k in _strings(raw.get("any_keywords", []), f"{where}.when.any_keywords")),
        all_keywords=tuple(fold(k) for k in _strings(raw.get("all_keywords", []), f"{where}.when.all_keywords")),
        none_keywords=tuple(
            fold(k) for k in _strings(raw.get("none_keywords", []), f"{where}.when.none_keywords")
        ),
        patterns=tuple(patterns),
        channels=channels,
        ivr_selections=tuple(_strings(raw.get("ivr_selections", []), f"{where}.when.ivr_selections")),
        customer=customer,
    )
    _check(
        any(
            (
                condition.any_keywords,
                condition.all_keywords,
                condition.patterns,
                condition.channels,
                condition.ivr_selections,
                condition.customer,
            )
        ),
        f"{where}.when needs at least one condition",
    )
    return condition


def _outcome(raw: object, where: str) -> Outcome:
    _check(isinstance(raw, Mapping), f"{where}.then must be an object")
    assert isinstance(raw, Mapping)
    known = {"category", "priority_class", "emergency", "skills", "subcategory", "incident_level"}
    unknown = set(raw) - known
    _check(not unknown, f"{where}.then: unknown field(s) {sorted(unknown)}; allowed: {sorted(known)}")
    category = raw.get("category")
    _check(category is None or category in CATEGORIES, f"{where}.then.category: unknown category {category!r}")
    priority = raw.get("priority_class")
    _check(priority is None or priority in PRIORITY_CLASSES, f"{where}.then.priority_class: {priority!r} unknown")
    emergency = raw.get("emergency")
    _check(
        emergency is None or emergency in EMERGENCY_REASONS,
        f"{where}.then.emergency: {emergency!r} is not one of {EMERGENCY_REASONS}",
    )
    subcategory = raw.get("subcategory")
    _check(subcategory is None or isinstance(subcategory, str), f"{where}.then.subcategory must be a string")
    level = raw.get("incident_level")
    _check(
        level is None or level in INCIDENT_LEVELS,
        f"{where}.then.incident_level: {level!r} is not one of {INCIDENT_LEVELS}",
    )
    outcome = Outcome(
        category=category,
        priority_class=priority,
        emergency=emergency,
        skills=tuple(_strings(raw.get("skills", []), f"{where}.then.skills")),
        subcategory=subcategory,
        incident_level=level,
    )
    _check(any((category, priority, emergency, outcome.skills, subcategory, level)), f"{where}.then does nothing")
    return outcome


def _mapping(document: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = document.get(key, {})
    _check(isinstance(value, Mapping), f"{key} must be an object")
    assert isinstance(value, Mapping)
    return value


def _strings(value: object, where: str) -> list[str]:
    _check(
        isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value),
        f"{where} must be a list of non-empty strings",
    )
    assert isinstance(value, list)
    return [v.strip() for v in value]


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise InvalidRules(message)


def explain(rules: RuleSet, facts: Facts) -> dict[str, Any]:
    """The dry run: what the rules decide for these facts, and which rules fired for which reasons."""
    result = classify(rules, facts)
    return {
        "ruleset_version": rules.version,
        "category": result.category,
        "priority_class": result.priority_class,
        "emergency": result.emergency,
        "emergency_reasons": list(result.emergency_reasons),
        "required_skills": list(result.required_skills),
        "subcategory": result.subcategory,
        "incident_level": result.incident_level,
        "fired": [
            {
                "rule_id": f.rule_id,
                "description": f.description,
                "reasons": list(f.reasons),
                "sets": {
                    k: v
                    for k, v in (
                        ("category", f.outcome.category),
                        ("priority_class", f.outcome.priority_class),
                        ("emergency", f.outcome.emergency),
                        ("skills", list(f.outcome.skills)),
                        ("subcategory", f.outcome.subcategory),
                        ("incident_level", f.outcome.incident_level),
                    )
                    if v
                },
            }
            for f in result.fired
        ],
        "decided_by": "default category (no rule named one)"
        if not any(f.outcome.category for f in result.fired)
        else f"rule {next(f.rule_id for f in result.fired if f.outcome.category)!r} set the category",
    }

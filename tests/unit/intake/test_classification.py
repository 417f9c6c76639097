"""The shipped rules against realistic texts for every category, in Chinese and English (written by us)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from services.intake.domain.classification import Facts, InvalidRules, classify, explain, parse_ruleset

MIGRATION = Path(__file__).resolve().parents[3] / "services" / "intake" / "migrations" / "0001_intake.sql"


def shipped_document() -> dict[str, Any]:
    sql = MIGRATION.read_text(encoding="utf-8")
    match = re.search(r"\$rules\$(.*)\$rules\$", sql, re.DOTALL)
    assert match is not None
    document: dict[str, Any] = json.loads(match.group(1))
    return document


RULES = parse_ruleset(shipped_document(), version=1)

# (text, category, priority class, emergency)
TABLE = [
    ("请问你们周末营业吗？营业时间是几点到几点", "enquiry", "routine", False),
    ("How do I change the delivery address on my order?", "enquiry", "routine", False),
    ("請問如何修改帳戶的聯繫電話", "enquiry", "routine", False),
    ("我要投诉你们的快递员，态度恶劣，还把包裹扔在门口", "complaint", "routine", False),
    ("I want to make a complaint: the agent hung up on me twice. Unacceptable.", "complaint", "routine", False),
    ("我要投訴，客服態度太差", "complaint", "routine", False),
    ("再不处理我就打12315投诉，并且找媒体曝光", "complaint", "urgent", True),
    ("If this is not fixed by Friday my lawyer will file a lawsuit.", "complaint", "urgent", True),
    ("建议你们的App增加夜间模式", "suggestion", "routine", False),
    ("Suggestion: it would be nice to export invoices as PDF.", "suggestion", "routine", False),
    ("App一打开就闪退，报错代码500", "system_fault", "complex", False),
    ("The checkout page shows an error and the app keeps crashing.", "system_fault", "complex", False),
    ("系統故障，無法登錄", "system_fault", "complex", False),
    ("这个月被重复扣费了两次，账单不对", "data_anomaly", "complex", False),
    (
        "I was charged twice for the same order; the balance shows the wrong amount.",
        "data_anomaly",
        "complex",
        False,
    ),
    ("网站从早上开始就无法访问，整个服务中断了", "service_interruption", "complex", False),
    ("Your service is down since 8am, the portal is unreachable.", "service_interruption", "complex", False),
    ("我的账号被盗了，有人异地登录还改了密码", "security_event", "urgent", True),
    ("My account was hacked and there are unauthorized payments.", "security_event", "urgent", True),
    ("我的个人信息被泄露了，接到很多骚扰电话知道我的订单", "data_leak", "urgent", True),
    ("There has been a data breach: my personal data exposed on a forum.", "data_leak", "urgent", True),
    ("個資外洩，有人知道我的住址", "data_leak", "urgent", True),
    ("家里的燃气表漏气了，闻到很大的煤气味，煤气泄漏了怎么办", "enquiry", "urgent", True),
    ("There is a gas leak near your meter, someone could be injured.", "enquiry", "urgent", True),
]


@pytest.mark.parametrize(("text", "category", "priority", "emergency"), TABLE, ids=[t[0][:24] for t in TABLE])
def test_shipped_rules_classify_realistic_texts(text: str, category: str, priority: str, emergency: bool) -> None:
    result = classify(RULES, Facts(text=text))
    assert (result.category, result.priority_class, result.emergency) == (category, priority, emergency)


def test_every_category_is_reachable_in_both_languages() -> None:
    covered: dict[str, set[str]] = {}
    for text, category, _, _ in TABLE:
        language = "zh" if re.search(r"[\u4e00-\u9fff]", text) else "en"
        covered.setdefault(category, set()).add(language)
    assert set(covered) == {
        "enquiry", "complaint", "suggestion", "system_fault", "data_anomaly", "service_interruption",
        "security_event", "data_leak",
    }  # fmt: skip
    assert all(languages == {"zh", "en"} for languages in covered.values()), covered


def test_english_keywords_match_whole_words_only() -> None:
    assert classify(RULES, Facts(text="I have an issue with my tissue order")).category == "enquiry"
    assert classify(RULES, Facts(text="I will sue you")).emergency


@pytest.mark.parametrize(
    ("keyword", "text", "fires"),
    [
        ("refund", "please REFUND me", True),
        ("refund", "two refunds, one refunded, still refunding", True),
        ("refund", "refundable?", False),
        ("sue", "my tissue issue", False),
        ("charged twice", "I was charged twice!", True),
        ("charged twice", "charged, twice", False),
        ("e-mail", "my e-mails bounce", True),
        ("退款", "我要求退款。", True),
        ("退款", "我要退货", False),
    ],
)
def test_a_keyword_fires_on_whole_words_with_inflections_or_as_chinese_text(
    keyword: str, text: str, fires: bool
) -> None:
    document = shipped_document()
    document["rules"] = [{"id": "probe", "when": {"any_keywords": [keyword]}, "then": {"category": "complaint"}}]
    rules = parse_ruleset(document, version=2)
    assert (classify(rules, Facts(text=text)).category == "complaint") is fires


def test_ivr_selection_and_customer_attributes_are_rule_inputs() -> None:
    call = classify(RULES, Facts(text="inbound call", channel="phone", ivr_selections=("3",)))
    assert call.category == "complaint"
    assert classify(RULES, Facts(text="inbound call", channel="chat", ivr_selections=("3",))).category == "enquiry"
    risky = classify(RULES, Facts(text="hello", customer={"grade": "basic", "risk_level": "high"}))
    assert "senior" in risky.required_skills


def test_emergency_forces_urgent_and_adds_the_emergency_skill() -> None:
    result = classify(RULES, Facts(text="有人受伤了，快来"))
    assert result.priority_class == "urgent"
    assert result.emergency_reasons == ("safety",)
    assert "emergency" in result.required_skills


def test_explain_names_the_rules_that_fired_and_why() -> None:
    answer = explain(RULES, Facts(text="我的账号被盗了，还被盗刷了", channel="chat"))
    assert answer["category"] == "security_event"
    fired = {f["rule_id"]: f for f in answer["fired"]}
    assert "security_event" in fired
    assert any("账号被盗" in reason for reason in fired["security_event"]["reasons"])
    assert answer["decided_by"] == "rule 'security_event' set the category"
    assert explain(RULES, Facts(text="hello"))["decided_by"].startswith("default category")


def _add(rule: dict[str, Any]) -> Any:
    return lambda d: d["rules"].append(rule)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_add({"id": "x", "when": {}, "then": {"category": "complaint"}}), "at least one"),
        (_add({"id": "x", "when": {"any_keywords": ["a"]}, "then": {"category": "nope"}}), "unknown category"),
        (_add({"id": "x", "when": {"patterns": ["("]}, "then": {"category": "complaint"}}), "regular expression"),
        (lambda d: d["rules"].append(dict(d["rules"][0])), "used twice"),
        (lambda d: d["priority_by_category"].pop("complaint"), "missing"),
        (lambda d: d["rules"][0]["when"].update(colour=["red"]), "unknown field"),
    ],
    ids=["empty condition", "bad category", "bad regex", "duplicate id", "missing priority", "unknown field"],
)
def test_invalid_rule_sets_are_refused_with_a_message_naming_the_problem(change: Any, message: str) -> None:
    document = shipped_document()
    change(document)
    with pytest.raises(InvalidRules, match=message):
        parse_ruleset(document, version=2)

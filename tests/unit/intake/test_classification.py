"""The shipped rules against realistic texts for every category, in Chinese and English (written by us)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from services.intake.domain.classification import (
    CATEGORIES,
    EMERGENCY_REASONS,
    Facts,
    InvalidRules,
    classify,
    explain,
    parse_ruleset,
)
from services.intake.domain.language import detect_language

MIGRATIONS = Path(__file__).resolve().parents[3] / "services" / "intake" / "migrations"


def shipped_document() -> dict[str, Any]:
    """The newest rule set a migration ships."""
    shipped = [
        match.group(1)
        for path in sorted(MIGRATIONS.glob("*.sql"))
        if (match := re.search(r"\$rules\$(.*)\$rules\$", path.read_text(encoding="utf-8"), re.DOTALL))
    ]
    assert shipped
    document: dict[str, Any] = json.loads(shipped[-1])
    return document


RULES = parse_ruleset(shipped_document(), version=2)

# (text, category, priority class, emergency reason or None). Every category and every emergency reason is here in
# Simplified Chinese, Traditional Chinese (Taiwan and Hong Kong wording) and English.
TABLE = [
    # enquiry
    ("请问你们周末营业吗？营业时间是几点到几点", "enquiry", "routine", None),
    ("請問如何修改帳戶的聯繫電話", "enquiry", "routine", None),
    ("請問門市營業時間是幾點到幾點？", "enquiry", "routine", None),
    ("How do I change the delivery address on my order?", "enquiry", "routine", None),
    # complaint
    ("我要投诉你们的快递员，态度恶劣，还把包裹扔在门口", "complaint", "routine", None),
    ("我要投訴，客服態度太差", "complaint", "routine", None),
    ("你們的客服態度很差，我要客訴", "complaint", "routine", None),
    ("I want to make a complaint: the agent hung up on me twice. Unacceptable.", "complaint", "routine", None),
    # suggestion
    ("建议你们的App增加夜间模式", "suggestion", "routine", None),
    ("建議你們的App增加深色模式", "suggestion", "routine", None),
    ("Suggestion: it would be nice to export invoices as PDF.", "suggestion", "routine", None),
    # system_fault
    ("App一打开就闪退，报错代码500", "system_fault", "complex", None),
    ("系統故障，無法登錄", "system_fault", "complex", None),
    ("軟體一直當機，無法登入", "system_fault", "complex", None),
    ("The checkout page shows an error and the app keeps crashing.", "system_fault", "complex", None),
    # data_anomaly
    ("这个月被重复扣费了两次，账单不对", "data_anomaly", "complex", None),
    ("這個月信用卡被重複扣款，帳單有誤", "data_anomaly", "complex", None),
    (
        "I was charged twice for the same order; the balance shows the wrong amount.",
        "data_anomaly",
        "complex",
        None,
    ),
    # service_interruption
    ("网站从早上开始就无法访问，整个服务中断了", "service_interruption", "complex", None),
    ("網站從早上開始就無法連線，服務中斷了", "service_interruption", "complex", None),
    ("Your service is down since 8am, the portal is unreachable.", "service_interruption", "complex", None),
    # security_event (emergency: security)
    ("我的账号被盗了，有人异地登录还改了密码", "security_event", "urgent", "security"),
    ("我的帳號被盜了，有人異地登入還改了密碼", "security_event", "urgent", "security"),
    ("我接到詐騙電話，對方知道我的訂單", "security_event", "urgent", "security"),
    ("我個網上銀行戶口被盜用咗", "security_event", "urgent", "security"),
    ("My account was hacked and there are unauthorized payments.", "security_event", "urgent", "security"),
    ("I got a fraud call from someone pretending to be you.", "security_event", "urgent", "security"),
    # data_leak (emergency: privacy)
    ("我的个人信息被泄露了，接到很多骚扰电话知道我的订单", "data_leak", "urgent", "privacy"),
    ("個資外洩，有人知道我的住址", "data_leak", "urgent", "privacy"),
    ("我的個人資料被洩露了", "data_leak", "urgent", "privacy"),
    ("There has been a data breach: my personal data exposed on a forum.", "data_leak", "urgent", "privacy"),
    # safety
    ("家里的燃气表漏气了，闻到很大的煤气味，煤气泄漏了怎么办", "enquiry", "urgent", "safety"),
    ("家裡瓦斯外洩，聞到很重的瓦斯味", "enquiry", "urgent", "safety"),
    ("屋企煤氣洩漏，有人受傷", "enquiry", "urgent", "safety"),
    ("There is a gas leak near your meter, someone could be injured.", "enquiry", "urgent", "safety"),
    # privacy (without a confirmed leak)
    ("你们为什么要收集我的隐私", "enquiry", "urgent", "privacy"),
    ("你們為什麼要收集我的個人隱私", "enquiry", "urgent", "privacy"),
    ("Why do you need my personal information for a refund?", "complaint", "urgent", "privacy"),
    # major_complaint
    ("再不处理我就打12315投诉，并且找媒体曝光", "complaint", "urgent", "major_complaint"),
    ("再不處理我就去消基會申訴，還要找媒體爆料", "complaint", "urgent", "major_complaint"),
    ("再唔處理我就去消委會投訴", "complaint", "urgent", "major_complaint"),
    ("If this is not fixed by Friday my lawyer will file a lawsuit.", "complaint", "urgent", "major_complaint"),
    # major_failure (RULES.md: a major system failure is urgent)
    ("系统瘫痪了，所有用户都无法下单", "service_interruption", "urgent", "major_failure"),
    ("系統癱瘓，所有用戶都無法下單", "service_interruption", "urgent", "major_failure"),
    (
        "Major outage: the whole system is down and no customer can pay.",
        "service_interruption",
        "urgent",
        "major_failure",
    ),
]


@pytest.mark.parametrize(("text", "category", "priority", "reason"), TABLE, ids=[t[0][:24] for t in TABLE])
def test_shipped_rules_classify_realistic_texts(
    text: str, category: str, priority: str, reason: str | None
) -> None:
    result = classify(RULES, Facts(text=text))
    assert (result.category, result.priority_class, result.emergency) == (category, priority, reason is not None)
    if reason is not None:
        assert reason in result.emergency_reasons


def _script(text: str) -> str:
    if not re.search(r"[\u4e00-\u9fff]", text):
        return "en"
    language = detect_language(text)
    assert language in ("zh-Hans", "zh-Hant"), text
    return language


def test_every_category_and_emergency_reason_is_in_the_table_in_both_scripts_and_english() -> None:
    covered: dict[str, set[str]] = {}
    for text, category, _, reason in TABLE:
        covered.setdefault(category, set()).add(_script(text))
        if reason:
            covered.setdefault(f"emergency:{reason}", set()).add(_script(text))
    expected = set(CATEGORIES) | {f"emergency:{reason}" for reason in EMERGENCY_REASONS}
    assert set(covered) == expected
    assert all(scripts == {"zh-Hans", "zh-Hant", "en"} for scripts in covered.values()), covered


def test_a_gas_leak_in_traditional_wording_is_not_a_data_leak() -> None:
    result = classify(RULES, Facts(text="瓦斯外洩"))
    assert result.category != "data_leak"
    assert result.emergency_reasons == ("safety",)


def test_keywords_written_in_traditional_match_simplified_text_too() -> None:
    document = shipped_document()
    document["rules"] = [
        {"id": "probe", "when": {"any_keywords": ["帳號異常"]}, "then": {"category": "data_anomaly"}}
    ]
    rules = parse_ruleset(document, version=3)
    assert classify(rules, Facts(text="我的账号异常")).category == "data_anomaly"
    assert classify(rules, Facts(text="我的帳號異常")).category == "data_anomaly"


def test_patterns_keep_their_escapes_and_match_either_case() -> None:
    document = shipped_document()
    document["rules"] = [
        {"id": "order", "when": {"patterns": [r"ORDER\s*#?\d{6}\D"]}, "then": {"category": "data_anomaly"}}
    ]
    rules = parse_ruleset(document, version=3)
    assert classify(rules, Facts(text="Order #123456 was charged")).category == "data_anomaly"
    assert classify(rules, Facts(text="order 1234567")).category == "enquiry"


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


def test_level_2_and_3_categories_come_from_the_rules_and_bring_their_skills() -> None:
    document = shipped_document()
    assert document["subcategories"]["complaint"]["billing"] == ["overcharge", "refund_delay"]
    rules = parse_ruleset(document, version=3)
    doubled = classify(rules, Facts(text="这个月被重复扣费了两次"))
    assert (doubled.category, doubled.subcategory) == ("data_anomaly", "billing_error")
    assert "billing" in doubled.required_skills  # skills_by_subcategory
    stolen = classify(rules, Facts(text="My account was hacked"))
    assert stolen.subcategory == "account_takeover"
    assert classify(rules, Facts(text="请问营业时间")).subcategory is None
    document["rules"].insert(
        0,
        {
            "id": "over",
            "when": {"any_keywords": ["多收"]},
            "then": {"category": "complaint", "subcategory": "billing/overcharge"},
        },
    )
    over = classify(parse_ruleset(document, version=4), Facts(text="你们多收了我的钱"))
    assert (over.category, over.subcategory) == ("complaint", "billing/overcharge")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["subcategories"].update(nonsense={}), "unknown category"),
        (lambda d: d["subcategories"]["complaint"].update({"Bad Name": []}), "slug"),
        (
            _add(
                {
                    "id": "x",
                    "when": {"any_keywords": ["a"]},
                    "then": {"category": "complaint", "subcategory": "fraud"},
                }
            ),
            "not a sub-type",
        ),
        (lambda d: d["skills_by_subcategory"].update({"complaint/nothing": ["x"]}), "skills_by_subcategory"),
    ],
    ids=["unknown category", "bad slug", "wrong parent", "skills for nothing"],
)
def test_a_bad_taxonomy_is_refused_naming_the_problem(change: Any, message: str) -> None:
    document = shipped_document()
    change(document)
    with pytest.raises(InvalidRules, match=message):
        parse_ruleset(document, version=9)


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("我的账号被盗了", "general"),
        ("My account was hacked and money was taken", "major"),
        ("大量用户的账号被盗了", "serious"),
        ("數百萬客戶資料外洩", "critical"),
        ("There was a mass breach: all customer data leaked", "critical"),
        ("请问营业时间", None),  # not a security incident: no level
    ],
)
def test_security_incidents_have_a_level_the_rules_raise(text: str, level: str | None) -> None:
    assert classify(RULES, Facts(text=text)).incident_level == level


def test_a_catastrophic_pattern_runs_in_linear_time() -> None:
    document = shipped_document()
    document["rules"] = [{"id": "redos", "when": {"patterns": [r"(a+)+$"]}, "then": {"category": "complaint"}}]
    rules = parse_ruleset(document, version=3)
    started = time.perf_counter()
    assert classify(rules, Facts(text="a" * 100_000 + "!")).category == "enquiry"
    assert time.perf_counter() - started < 0.5  # stdlib `re` takes longer than the age of the universe here


@pytest.mark.parametrize("pattern", [r"(a)\1", r"(?<!no )refund", r"a{1000}{1000}"])
def test_a_pattern_the_linear_time_engine_cannot_run_is_refused_when_saved(pattern: str) -> None:
    document = shipped_document()
    document["rules"] = [{"id": "slow", "when": {"patterns": [pattern]}, "then": {"category": "complaint"}}]
    with pytest.raises(InvalidRules, match="RE2"):
        parse_ruleset(document, version=3)


def test_case_insensitive_patterns_keep_the_meaning_of_their_classes() -> None:
    document = shipped_document()
    document["rules"] = [{"id": "x", "when": {"patterns": [r"NO\S\D\W"]}, "then": {"category": "complaint"}}]
    rules = parse_ruleset(document, version=3)
    assert classify(rules, Facts(text="noab!")).category == "complaint"
    assert classify(rules, Facts(text="NOa1!")).category == "enquiry"
    assert classify(rules, Facts(text="No a!")).category == "enquiry"

"""What simulated customers write: texts per category and language that the shipped classification rules read
the way a person would, follow-ups, and knowledge articles for the agents to look things up in.

Deterministic for a seed: every choice goes through the `random.Random` the caller passes in.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

PRODUCTS = ("手机银行", "信用卡", "宽带", "云存储", "会员积分", "电子发票")
PRODUCTS_EN = ("mobile banking", "credit card", "broadband", "cloud storage", "loyalty points", "e-invoice")

# RULES.md category shares: routine 60 %, complex 25 %, urgent 15 %.
CLASS_SHARES = (("routine", 0.60), ("complex", 0.25), ("urgent", 0.15))
CATEGORIES = {
    "routine": ("enquiry", "complaint", "suggestion"),
    "complex": ("system_fault", "data_anomaly", "service_interruption"),
    "urgent": ("data_leak", "security_event"),
}

# Phrases the shipped rules recognise for each category (keywords from intake's rule set), per language.
PHRASES: dict[str, dict[str, tuple[str, ...]]] = {
    "zh-Hans": {
        "enquiry": ("请问{p}的年费怎么收取？", "想咨询一下{p}怎么开通。", "{p}的积分什么时候到账？"),
        "complaint": ("我要投诉，{p}的客服态度太差了。", "对{p}的服务非常不满，要求退款。"),
        "suggestion": ("建议{p}增加夜间模式。", "希望增加{p}的账单导出功能，一点改进意见。"),
        "system_fault": ("{p}一打开就闪退，提示错误代码 E102。", "{p}登录时报错，故障一直没有修好。"),
        "data_anomaly": ("{p}本月重复扣费，账单不对。", "{p}显示的数据异常，余额和实际不符。"),
        "service_interruption": ("{p}从早上开始无法访问，服务中断了。", "{p}打不开，整个页面宕机。"),
        "data_leak": ("我的个人信息被泄露了，{p}数据泄露怎么处理？",),
        "security_event": ("{p}账号被盗，有人异地登录并修改了密码。",),
    },
    "zh-Hant": {
        "enquiry": ("請問{p}的年費怎麼收取？", "想諮詢一下{p}怎麼開通。"),
        "complaint": ("我要投訴，{p}的客服態度太差了。",),
        "suggestion": ("建議{p}增加夜間模式。",),
        "system_fault": ("{p}一打開就閃退，提示錯誤代碼 E102。",),
        "data_anomaly": ("{p}本月重複扣費，帳單不對。",),
        "service_interruption": ("{p}從早上開始無法訪問，服務中斷了。",),
        "data_leak": ("我的個人信息被洩露了，{p}資料外洩怎麼處理？",),
        "security_event": ("{p}帳號被盜，有人異地登錄。",),
    },
    "en": {
        "enquiry": ("How is the annual fee for {p} charged?", "How do I activate {p}?"),
        "complaint": ("I want to file a complaint: the {p} support was rude and I want a refund.",),
        "suggestion": ("A suggestion: please add a dark mode to {p}.",),
        "system_fault": ("{p} crashes on start with error code E102.",),
        "data_anomaly": ("I was charged twice for {p} this month; the bill is wrong.",),
        "service_interruption": ("{p} has been down since this morning, a service outage.",),
        "data_leak": ("My personal data was leaked; how do you handle this {p} data breach?",),
        "security_event": ("My {p} account was hacked and someone changed my password.",),
    },
}

FOLLOW_UPS = {
    "zh-Hans": ("补充一下，问题还在，麻烦尽快处理。", "附上截图，请查看。"),
    "zh-Hant": ("補充一下，問題還在，麻煩盡快處理。",),
    "en": ("Adding a detail: it still happens, please hurry.", "Here is a screenshot."),
}

NAMES = ("张伟", "王芳", "李娜", "刘洋", "陈静", "杨帆", "赵磊", "黄敏", "Alex Chen", "Maria Lopez", "John Smith")


@dataclass(frozen=True)
class Message:
    category: str
    priority_class: str
    language: str
    subject: str
    text: str


def pick_class(rng: random.Random) -> str:
    roll = rng.random()
    for name, share in CLASS_SHARES:
        if roll < share:
            return name
        roll -= share
    return CLASS_SHARES[-1][0]


def pick_language(rng: random.Random) -> str:
    roll = rng.random()
    return "zh-Hans" if roll < 0.7 else ("en" if roll < 0.9 else "zh-Hant")


def compose(rng: random.Random, language: str | None = None) -> Message:
    language = language or pick_language(rng)
    priority_class = pick_class(rng)
    category = rng.choice(CATEGORIES[priority_class])
    index = rng.randrange(len(PRODUCTS))
    product = PRODUCTS_EN[index] if language == "en" else PRODUCTS[index]
    text = rng.choice(PHRASES[language][category]).format(p=product)
    subject = text.split("，")[0].split(",")[0].split("?")[0][:40]
    return Message(category, priority_class, language, subject, text)


def follow_up(rng: random.Random, language: str) -> str:
    return rng.choice(FOLLOW_UPS.get(language, FOLLOW_UPS["en"]))


def articles(rng: random.Random, count: int) -> list[dict[str, object]]:
    """Knowledge articles (JSON lines items for the import API) covering every product × category."""
    items: list[dict[str, object]] = []
    categories = [c for group in CATEGORIES.values() for c in group]
    index = 0
    while len(items) < count:
        product_index = index % len(PRODUCTS)
        category = categories[(index // len(PRODUCTS)) % len(categories)]
        language = ("zh-Hans", "en", "zh-Hant")[index % 3]
        product = PRODUCTS_EN[product_index] if language == "en" else PRODUCTS[product_index]
        sample = PHRASES[language][category][0].format(p=product)
        variant = index // (len(PRODUCTS) * len(categories))
        if language == "en":
            title = f"{product}: handling '{category.replace('_', ' ')}' cases (guide {variant + 1})"
            body = f'When a customer writes "{sample}", check the account, explain the cause and record it.'
        else:
            title = f"{product}：{category} 类问题处理指引（{variant + 1}）"
            body = f"客户反映“{sample}”时，先核实账户，再说明原因并记录处理结果。"
        items.append(
            {
                "external_id": f"demo-{index}",
                "title": title,
                "body": body,
                "summary": sample,
                "category": category,
                "tags": [product, category],
                "language": language,
                "visibility": "internal",
                "status": "published",
            }
        )
        index += 1
    rng.shuffle(items)
    return items

"""Quoted replies and signatures cut from the new text (English and Chinese clients), HTML to text, language."""

from __future__ import annotations

import pytest

from services.intake.domain.language import detect_language
from services.intake.domain.text import html_to_text, normalise_subject, split_reply

REPLIES = {
    "gmail": (
        "Still waiting for the refund.\n\nOn Mon, Nov 23, 2026 at 9:00 AM Support <cs@example.com> wrote:\n"
        "> We are processing it.\n> Regards",
        "Still waiting for the refund.",
    ),
    "gmail wrapped attribution": (
        "Thanks!\n\nOn Mon, Nov 23, 2026 at 9:00 AM Customer Service Team <\ncs@example.com> wrote:\n> old",
        "Thanks!",
    ),
    "outlook en": (
        "Please call me back.\n\n________________________________\nFrom: Support <cs@example.com>\n"
        "Sent: Monday, November 23, 2026 9:00 AM\nTo: Me\nSubject: RE: Ticket 42\n\nold text",
        "Please call me back.",
    ),
    "outlook zh": (
        "还是无法登录。\n\n发件人: 客服中心 <cs@example.com>\n发送时间: 2026年11月23日 9:00\n收件人: 张三\n"
        "主题: 答复: 登录问题\n\n请清除缓存后重试。",
        "还是无法登录。",
    ),
    "outlook zh-Hant": (
        "問題仍未解決\n\n寄件者: 客服中心\n寄件日期: 2026年11月23日\n收件者: 陳先生\n主旨: 回覆: 帳戶\n舊內容",
        "問題仍未解決",
    ),
    "foxmail": (
        '好的，收到\n\n------------------ 原始邮件 ------------------\n发件人: "客服"<cs@example.com>\n'
        "发送时间: 2026年11月23日(星期一) 上午9:00\n主题: 回复: 订单\n\n旧的内容",
        "好的，收到",
    ),
    "qqmail 写道": (
        '我明天再试试\n\n在 2026年11月23日 09:00，"客服中心"<cs@example.com> 写道：\n> 请您重新登录',
        "我明天再试试",
    ),
    "coremail 163": (
        '发票已经收到了，谢谢\n\n在 2026-11-23 09:00:00，"客服" <cs@163.com> 写道：\n>您好\n>发票已寄出',
        "发票已经收到了，谢谢",
    ),
    "traditional 寫道": ("謝謝\n\n於 2026年11月23日 陳大文 寫道：\n> 舊訊息", "謝謝"),
    "回复 block": ("不用了\n\n回复: 订单问题\n发件人: 客服\n时间: 今天\n旧内容", "不用了"),
    "bottom posting": ("> Is it fixed?\n> Please tell me\n\nNo, it still crashes.", "No, it still crashes."),
}


@pytest.mark.parametrize(("raw", "new"), list(REPLIES.values()), ids=list(REPLIES))
def test_quoted_replies_are_cut_from_the_new_text(raw: str, new: str) -> None:
    split = split_reply(raw)
    assert split.new == new
    assert split.quoted or raw.startswith(">")


@pytest.mark.parametrize(
    ("raw", "new", "signature"),
    [
        ("Hi, my card is blocked.\n\n-- \nJohn Smith\n+1 650 253 0000", "Hi, my card is blocked.", "John Smith"),
        ("账单有误，请核查\n\n发自我的iPhone", "账单有误，请核查", "发自我的iPhone"),
        ("Please help\n\nSent from my Huawei phone", "Please help", "Sent from my Huawei phone"),
        ("好的\n从我的 iPhone 发送", "好的", "从我的 iPhone 发送"),
    ],
)
def test_signatures_are_cut_and_kept_apart(raw: str, new: str, signature: str) -> None:
    split = split_reply(raw)
    assert split.new == new
    assert split.signature.startswith(signature)


def test_text_without_quotes_is_kept_whole() -> None:
    text = "第一行\n\n第二行：有冒号\nFrom the start: it never worked"
    assert split_reply(text).new == text


def test_html_blocks_become_lines_and_scripts_vanish() -> None:
    html = (
        "<html><head><title>t</title><style>p {color: red}</style></head><body>"
        "<div>订单&amp;发票</div><p>第二段<br>换行</p><ul><li>一</li><li>二</li></ul>"
        "<blockquote>旧的回复</blockquote><script>alert(1)</script></body></html>"
    )
    assert html_to_text(html) == "订单&发票\n\n第二段\n换行\n\n- 一\n\n- 二\n\n> 旧的回复"


@pytest.mark.parametrize(
    ("subject", "key"),
    [
        ("Re: RE: Fwd: Order 42", "order 42"),
        ("回复：答复: 订单问题", "订单问题"),
        ("回覆: 轉寄: 帳單", "账单"),
        ("[Ticket #9] Re:  Refund", "refund"),
        ("ＲＥ：全角", "全角"),
    ],
)
def test_subject_prefixes_of_every_client_are_removed_for_threading(subject: str, key: str) -> None:
    assert normalise_subject(subject) == key


def test_a_subject_keys_the_same_thread_in_either_chinese_script() -> None:
    # A customer's mail client in Taiwan answers a Simplified subject in Traditional (and the other way round).
    assert normalise_subject("回覆：帳戶資料變更申請") == normalise_subject("账户资料变更申请")
    assert normalise_subject("Re: 軟體無法安裝") == normalise_subject("软件无法安装")


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("我的订单还没有到，请帮我查一下物流", "zh-Hans"),
        ("我的訂單還沒有到，請幫我查一下物流", "zh-Hant"),
        ("瓦斯外洩", "zh-Hant"),  # 洩 was missing from the old hand-made table
        ("個資外洩了怎麼辦", "zh-Hant"),
        ("您好，请问营业时间", "zh-Hans"),
        ("My order has not arrived yet, can you check it please?", "en"),
        ("注文した商品がまだ届きません", "ja"),
        ("주문한 상품이 아직 도착하지 않았습니다", "ko"),
        ("Заказ до сих пор не доставлен", "ru"),
        ("Mi pedido no ha llegado todavía y necesito una respuesta", "es"),
        ("你好 order 123 还没到", "zh-Hans"),
        ("12345", None),
    ],
)
def test_language_is_detected(text: str, language: str | None) -> None:
    assert detect_language(text) == language

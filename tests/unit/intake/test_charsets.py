"""Hand-made mail as Chinese (and other) clients really send it: wrong labels, raw 8-bit headers, split words."""

from __future__ import annotations

import base64

import pytest

from services.intake.domain.charsets import decode_bytes, decode_header_value, detect, repair_mojibake
from services.intake.domain.mime import MalformedEmail, parse_email


def mail(headers: list[bytes], body: bytes, *, content_type: bytes = b"text/plain; charset=utf-8") -> bytes:
    head = [b"From: sender@example.com", b"To: support@example.com", b"MIME-Version: 1.0"]
    head += [b"Content-Type: " + content_type, b"Content-Transfer-Encoding: 8bit", *headers]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def encoded_word(charset: str, data: bytes) -> str:
    return f"=?{charset}?B?{base64.b64encode(data).decode()}?="


def raw_header(text: str) -> str:
    """A header value as the parser hands it over: bytes beyond ASCII as surrogate escapes."""
    return text


GBK_ONLY = "朱镕基和王喆的堃字"  # 镕 喆 堃 are in GBK but not in GB2312


def test_a_gb2312_label_on_gbk_text_is_read_as_gb18030() -> None:
    data = GBK_ONLY.encode("gbk")
    with pytest.raises(UnicodeDecodeError):
        data.decode("gb2312")
    assert decode_bytes(data, "gb2312") == GBK_ONLY
    parsed = parse_email(mail([], data, content_type=b'text/plain; charset="GB2312"'))
    assert parsed.text == GBK_ONLY


def test_a_gb2312_label_on_four_byte_gb18030_text_is_read() -> None:
    text = "退款𠮷€"
    assert decode_bytes(text.encode("gb18030"), "GB2312") == text


def test_raw_8bit_gbk_subject_and_big5_sender_name_are_detected() -> None:
    subject = "关于我的订单退款问题".encode("gbk")
    sender = "陳大文".encode("big5")
    raw = b"\r\n".join(
        [
            b"From: " + sender + b" <chan@example.com.hk>",
            b"Subject: " + subject,
            b"Content-Type: text/plain",
            b"",
            "請盡快處理".encode("big5"),
        ]
    )
    parsed = parse_email(raw)
    assert parsed.subject == "关于我的订单退款问题"
    assert parsed.sender is not None
    assert parsed.sender.name == "陳大文" and parsed.sender.address == "chan@example.com.hk"
    assert parsed.text == "請盡快處理", "an unlabelled Big5 body is detected as Big5, not GBK"


@pytest.mark.parametrize("charset", ["utf-8", "gbk", "gb18030", "big5"])
def test_an_rfc2047_word_split_in_the_middle_of_a_character_is_joined_before_decoding(charset: str) -> None:
    text = "您好我的账户无法登录" if charset != "big5" else "您好我的帳戶無法登錄"
    data = text.encode(charset)
    cut = 5  # inside the third character in every one of these encodings
    value = encoded_word(charset, data[:cut]) + "\r\n " + encoded_word(charset, data[cut:])
    assert decode_header_value(value) == text


def test_encoded_words_in_different_charsets_and_plain_text_between_them() -> None:
    value = "Re: " + encoded_word("gb2312", "订单".encode("gbk")) + " " + encoded_word("utf-8", "問題".encode())
    assert decode_header_value(value) == "Re: 订单問題"
    q_word = "=?iso-8859-1?Q?Caf=E9_cr=E8me?="
    assert decode_header_value(q_word) == "Café crème"


def test_a_body_with_no_charset_is_detected() -> None:
    body = "我的快递三天了还没有更新物流信息，请帮忙查询。".encode("gbk")
    parsed = parse_email(mail([b"Subject: hello"], body, content_type=b"text/plain"))
    assert parsed.text == "我的快递三天了还没有更新物流信息，请帮忙查询。"


def test_a_utf8_label_on_gbk_bytes_is_recovered() -> None:
    body = "系统故障，无法支付".encode("gbk")
    assert decode_bytes(body, "utf-8") == "系统故障，无法支付"


@pytest.mark.parametrize(
    ("charset", "text"),
    [
        ("shift_jis", "注文がまだ届きません"),
        ("euc-kr", "주문이 아직 도착하지 않았습니다"),
        ("ks_c_5601-1987", "환불 요청"),
        ("iso-2022-jp", "お問い合わせ"),
        ("iso-8859-1", "Réclamation: la livraison est en retard"),
        ("windows-1251", "Заказ не доставлен"),
        ("big5", "我要投訴"),
        ("gb18030", "我要投诉"),
    ],
)
def test_every_listed_charset_decodes_a_labelled_body(charset: str, text: str) -> None:
    content_type = f"text/plain; charset={charset}".encode()
    parsed = parse_email(mail([b"Subject: x"], text.encode(charset), content_type=content_type))
    assert parsed.text == text


def test_quoted_printable_and_base64_bodies_are_decoded() -> None:
    qp = b"\r\n".join(
        [
            b"From: a@example.com",
            b"Content-Type: text/plain; charset=utf-8",
            b"Content-Transfer-Encoding: quoted-printable",
            b"",
            b"=E9=80=80=E6=AC=BE",  # 退款 in UTF-8
        ]
    )
    assert parse_email(qp).text == "退款"
    b64 = b"\r\n".join(
        [
            b"From: a@example.com",
            b"Content-Type: text/plain; charset=gb2312",
            b"Content-Transfer-Encoding: base64",
            b"",
            base64.b64encode("网站打不开".encode("gbk")),
        ]
    )
    assert parse_email(b64).text == "网站打不开"


def test_html_only_mail_becomes_text_and_alternative_prefers_the_plain_part() -> None:
    html_only = mail(
        [b"Subject: html"],
        "<html><body><p>您好，</p><p>发票<b>金额</b>不对&nbsp;。</p><script>x()</script></body></html>".encode(),
        content_type=b"text/html; charset=utf-8",
    )
    assert parse_email(html_only).text == "您好，\n\n发票金额不对 。"
    alternative = b"\r\n".join(
        [
            b"From: a@example.com",
            b'Content-Type: multipart/alternative; boundary="b"',
            b"",
            b"--b",
            b"Content-Type: text/plain; charset=utf-8",
            b"",
            b"plain words",
            b"--b",
            b"Content-Type: text/html; charset=utf-8",
            b"",
            b"<p>html words</p>",
            b"--b--",
        ]
    )
    parsed = parse_email(alternative)
    assert parsed.text == "plain words" and not parsed.from_html


def test_an_unknown_charset_on_bytes_nothing_decodes_is_refused_with_the_reason() -> None:
    # 0x81 0x8d 0x8f 0x90 0x9d are undefined in CP1252 and form no GBK/Big5 text.
    body = bytes([0x81, 0x20, 0x8D, 0x20, 0x90, 0x20, 0x9D, 0x20, 0x8F])
    with pytest.raises(MalformedEmail, match="unknown charset 'x-klingon'"):
        parse_email(mail([b"Subject: x"], body, content_type=b"text/plain; charset=x-klingon"))


def test_an_unknown_charset_on_readable_bytes_is_detected_not_refused() -> None:
    parsed = parse_email(
        mail([b"Subject: x"], "账单".encode("gbk"), content_type=b"text/plain; charset=x-unknown")
    )
    assert parsed.text == "账单"


@pytest.mark.parametrize(
    "raw",
    [b"", b"   \r\n", b'{"subject": "json, not mail"}', b"\x89PNG\r\n\x1a\n binary"],
    ids=["empty", "blank", "json", "binary"],
)
def test_input_that_is_not_mail_is_refused_as_malformed(raw: bytes) -> None:
    with pytest.raises(MalformedEmail):
        parse_email(raw)


def test_latin1_text_is_not_mistaken_for_chinese() -> None:
    assert detect("Formação e Verão".encode("latin-1")) == "Formação e Verão"
    assert detect("Ingo Lütkebohle".encode("latin-1")) == "Ingo Lütkebohle"


def test_utf8_over_latin1_mojibake_of_big5_is_repaired_and_real_latin1_is_kept() -> None:
    mojibake = "大家說英語".encode("big5").decode("latin-1")
    assert repair_mojibake(mojibake) == "大家說英語"
    assert repair_mojibake("Café crème") == "Café crème"


def test_raw_header_with_surrogate_escapes_is_decoded() -> None:
    value = "订单".encode("gbk").decode("ascii", errors="surrogateescape")
    assert decode_header_value(raw_header(value)) == "订单"


def test_an_attachment_over_the_limit_refuses_the_email_with_its_name_and_size() -> None:
    from services.intake.domain.mime import AttachmentTooLarge

    raw = b"\r\n".join(
        [
            b"From: a@example.com",
            b'Content-Type: multipart/mixed; boundary="b"',
            b"",
            b"--b",
            b"Content-Type: text/plain",
            b"",
            b"see attached",
            b"--b",
            b'Content-Type: application/pdf; name="big.pdf"',
            b"Content-Transfer-Encoding: base64",
            b"",
            base64.b64encode(b"x" * 3000),
            b"--b--",
        ]
    )
    with pytest.raises(AttachmentTooLarge, match=r"'big.pdf' is 3000 bytes; the limit is 1000"):
        parse_email(raw, max_attachment_bytes=1000)
    assert parse_email(raw, max_attachment_bytes=5000).attachments[0].size == 3000


# Bodies as a customer writes them, encoded by a client that put no charset label on them.
OTHER_SCRIPTS = [
    (
        "Здравствуйте! Уже второй день не могу войти в личный кабинет: пишет «неверный пароль», хотя пароль "
        "я сменил вчера по SMS. Номер договора 4471-22. Помогите, пожалуйста.\r\nС уважением, Иван Петров",
        "cp1251",
    ),
    (
        "Καλησπέρα σας, από χθες δεν μπορώ να συνδεθώ στον λογαριασμό μου. Άλλαξα τον κωδικό, αλλά εμφανίζεται "
        "σφάλμα 403. Μπορείτε να με βοηθήσετε;\r\nΕυχαριστώ,\r\nΓιώργος Παπαδόπουλος",
        "cp1253",
    ),
    (
        "お世話になっております。昨日からログインできません。パスワードを変更しましたが、"
        "「認証エラー」と表示されます。注文番号は A-20931 です。\r\nよろしくお願いいたします。\r\n山田太郎",
        "shift_jis",
    ),
]


@pytest.mark.parametrize(
    ("text", "charset"), OTHER_SCRIPTS, ids=["russian cp1251", "greek cp1253", "japanese sjis"]
)
def test_unlabelled_cyrillic_greek_and_japanese_bodies_are_read_not_turned_into_cp1252(
    text: str, charset: str
) -> None:
    data = text.encode(charset)
    assert detect(data) == text
    assert parse_email(mail([b"Subject: x"], data, content_type=b"text/plain")).text == text.replace("\r\n", "\n")


@pytest.mark.parametrize(
    ("text", "charset"), OTHER_SCRIPTS, ids=["russian cp1251", "greek cp1253", "japanese sjis"]
)
def test_other_scripts_under_an_unknown_label_are_read(text: str, charset: str) -> None:
    parsed = parse_email(mail([b"Subject: x"], text.encode(charset), content_type=b"text/plain; charset=x-user"))
    assert parsed.text == text.replace("\r\n", "\n")


def test_unlabelled_chinese_is_still_read_by_the_chinese_rules_first() -> None:
    simplified, traditional = (
        "您好，我的宽带从昨天开始就断了，请尽快派人维修。",
        "您好，我的寬頻從昨天開始就斷了，請盡快派人維修。",
    )
    assert detect(simplified.encode("gbk")) == simplified
    assert detect(traditional.encode("big5")) == traditional


@pytest.mark.parametrize(
    "text",
    [
        "Bonjour, je n'arrive plus à me connecter depuis hier. Merci de votre aide. Cordialement, Hélène",
        "Sehr geehrte Damen und Herren, seit gestern kann ich mich nicht anmelden. Grüße, Jürgen Größ",
        "Jürgen",
    ],
)
def test_unlabelled_western_text_stays_cp1252(text: str) -> None:
    assert detect(text.encode("cp1252")) == text


def big5_mail(sender: bytes, *, subject: bytes = b"x", label: bytes = b"") -> bytes:
    """A Hong Kong or Taiwan client's message: raw 8-bit Big5 in the body (labelled `label`, or not at all)."""
    body = "您好，我上個月的帳單多收了一百元，請盡快處理退款，謝謝。".encode("big5")
    content_type = b"text/plain" + (b"; charset=" + label if label else b"")
    return mail([b"Subject: " + subject], body, content_type=content_type).replace(
        b"From: sender@example.com", b"From: " + sender
    )


# Short names whose Big5 bytes also read as common simplified characters (陳菊 as 朝碘): only the message's own
# charset tells them apart.
AMBIGUOUS_NAMES = ["陳菊", "韓國瑜", "黎智英", "游錫堃"]


@pytest.mark.parametrize("label", [b"", b"big5", b"gb2312"], ids=["unlabelled", "labelled", "mislabelled"])
@pytest.mark.parametrize("name", AMBIGUOUS_NAMES)
def test_a_raw_big5_sender_is_read_with_the_charset_that_read_the_body(name: str, label: bytes) -> None:
    parsed = parse_email(big5_mail(name.encode("big5hkscs") + b" <client@example.com.hk>", label=label))
    assert parsed.sender is not None
    assert (parsed.sender.name, parsed.sender.address) == (name, "client@example.com.hk")
    assert "退款" in parsed.text


def test_a_raw_big5_name_in_an_address_comment_keeps_its_backslash_bytes() -> None:
    name = "許功蓋"  # B3 5C A5 5C BB 5C: every second byte is a backslash
    parsed = parse_email(big5_mail(b"hui@example.com.hk (" + name.encode("big5") + b")"))
    assert parsed.sender is not None
    assert (parsed.sender.name, parsed.sender.address) == (name, "hui@example.com.hk")


@pytest.mark.parametrize(
    ("text", "charset", "label"),
    [
        ("請盡快處理我的退款申請", "big5", "gb2312"),
        ("请尽快处理我的退款申请", "gbk", "big5"),
        ("关于我的订单退款问题", "gbk", "x-unknown"),
        ("Не работает интернет", "cp1251", "x-unknown"),
        ("ログインできません", "shift_jis", "x-sjis-unknown"),
    ],
    ids=["big5 labelled gb2312", "gbk labelled big5", "gbk unknown label", "cp1251 unknown", "sjis unknown"],
)
def test_a_subject_under_a_wrong_or_unknown_label_is_read(text: str, charset: str, label: str) -> None:
    subject = encoded_word(label, text.encode(charset)).encode()
    assert parse_email(mail([b"Subject: " + subject], b"hello")).subject == text


def test_a_short_chinese_subject_labelled_latin1_is_read_when_the_body_is_chinese() -> None:
    subject = encoded_word("iso-8859-1", "退款".encode("big5")).encode()
    assert parse_email(big5_mail(b"a@example.com.hk", subject=subject)).subject == "退款"
    assert parse_email(mail([b"Subject: " + subject], b"hello")).subject != "退款", "no Chinese body, no guess"


def test_a_wrong_chinese_label_on_a_body_is_read_as_the_other_chinese_charset() -> None:
    body = "您好，我上個月的帳單多收了一百元，請盡快處理退款，謝謝。"
    assert parse_email(mail([], body.encode("big5"), content_type=b"text/plain; charset=gb2312")).text == body
    simplified = "您好，我上个月的账单多收了一百元，请尽快处理退款，谢谢。"
    assert decode_bytes(simplified.encode("gbk"), "big5") == simplified
    assert decode_bytes(GBK_ONLY.encode("gbk"), "gb2312") == GBK_ONLY, "a right label is kept"

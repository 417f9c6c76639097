"""Properties of the charset and MIME parsers over generated input: whatever bytes, labels and structure a mail
server passes on, reading them gives text or a `MalformedEmail`, never another error; text that is what its
label says comes back as written."""

from __future__ import annotations

import base64
import contextlib
import encodings.aliases

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.intake.domain.charsets import (
    UnknownCharset,
    codec_for,
    decode_bytes,
    decode_header_value,
    read_declared,
)
from services.intake.domain.customer import ImportError_, read_import
from services.intake.domain.mime import AttachmentTooLarge, MalformedEmail, parse_email

PROPERTY = settings(
    max_examples=150, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

LABELS = st.one_of(
    st.sampled_from(sorted({*encodings.aliases.aliases, *encodings.aliases.aliases.values()})),
    st.sampled_from(["utf-8", "gb2312", "gbk", "big5", "iso-2022-jp", "utf-7", "x-unknown", "base64", "zlib"]),
    st.text(max_size=12),
    st.none(),
)
TEXT = st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=200)
CHINESE = st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5), min_size=1, max_size=60)


@PROPERTY
@given(data=st.binary(max_size=400), label=LABELS)
def test_any_bytes_under_any_label_decode_to_text(data: bytes, label: str | None) -> None:
    assert isinstance(decode_bytes(data, label), str)
    try:
        text, _ = read_declared(data, label)
    except UnknownCharset:
        assert label and codec_for(label) is None, "only an unknown label may refuse"
    else:
        assert isinstance(text, str)


@PROPERTY
@given(text=TEXT, label=LABELS)
def test_utf8_reads_back_as_written_whatever_the_label(text: str, label: str | None) -> None:
    if "\x1b" in text or (label is not None and codec_for(label) in ("utf-7",)):
        return  # ISO-2022 escapes and UTF-7 are read as what they announce
    assert decode_bytes(text.encode("utf-8"), label) == text


@PROPERTY
@given(text=CHINESE, codec=st.sampled_from(["gb18030", "big5"]))
def test_chinese_labelled_with_its_own_charset_reads_back_as_written(text: str, codec: str) -> None:
    try:
        data = text.encode(codec)
    except UnicodeEncodeError:
        return  # a character the charset does not have
    if _valid_utf8(data):
        return  # GB18030 `一` is the bytes of UTF-8 `һ`: valid UTF-8 is read as UTF-8, whatever the label
    decoded = decode_bytes(data, codec)
    assert len(decoded) == len(text)
    if codec == "gb18030":
        assert decoded == text


def _valid_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@PROPERTY
@given(
    value=st.text(max_size=200), hints=st.lists(st.sampled_from(["gb18030", "big5", "utf-8", "zlib"]), max_size=2)
)
def test_any_header_value_decodes_to_text(value: str, hints: list[str]) -> None:
    assert isinstance(decode_header_value(value, hints=tuple(hints)), str)


@PROPERTY
@given(raw=st.binary(max_size=600))
def test_any_bytes_are_mail_or_malformed(raw: bytes) -> None:
    with contextlib.suppress(MalformedEmail):
        parse_email(raw)


HEADER_NAMES = st.sampled_from(["Subject", "From", "To", "Cc", "Reply-To", "Message-ID", "In-Reply-To", "Date"])
TRANSFER = st.sampled_from(["7bit", "8bit", "base64", "quoted-printable", "x-uuencode", "bogus", ""])


@st.composite
def parts(draw: st.DrawFn, depth: int = 0) -> bytes:
    """A MIME part: a leaf with any charset label, transfer encoding and body, or a multipart of parts (some
    with boundaries that never appear), or a forwarded message."""
    kind = draw(st.sampled_from(["leaf", "leaf", "multipart", "forwarded"] if depth < 4 else ["leaf"]))
    if kind == "leaf":
        ctype = draw(st.sampled_from(["text/plain", "text/html", "application/pdf", "image/png", "text/calendar"]))
        label = draw(LABELS)
        charset = f'; charset="{label}"' if label is not None else ""
        disposition = draw(st.sampled_from(["", "Content-Disposition: attachment; filename=a.txt\r\n"]))
        body = draw(st.binary(max_size=200))
        return (
            f"Content-Type: {ctype}{charset}\r\nContent-Transfer-Encoding: {draw(TRANSFER)}\r\n{disposition}\r\n"
        ).encode("utf-8", "surrogateescape") + body
    if kind == "forwarded":
        return b"Content-Type: message/rfc822\r\n\r\n" + draw(messages(depth + 1))
    boundary = f"b{depth}x"
    children = draw(st.lists(parts(depth + 1), max_size=3))
    closed = draw(st.booleans())
    subtype = draw(st.sampled_from(["mixed", "alternative", "related"]))
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + child + b"\r\n" for child in children)
    return (
        f'Content-Type: multipart/{subtype}; boundary="{boundary}"\r\n\r\n'.encode()
        + body
        + (b"--" + boundary.encode() + b"--\r\n" if closed else b"")
    )


@st.composite
def messages(draw: st.DrawFn, depth: int = 0) -> bytes:
    headers = draw(st.lists(st.tuples(HEADER_NAMES, st.binary(max_size=60)), max_size=5))
    head = b"".join(name.encode() + b": " + value.replace(b"\n", b" ") + b"\r\n" for name, value in headers)
    return b"MIME-Version: 1.0\r\n" + head + draw(parts(depth))


@PROPERTY
@given(raw=messages())
def test_generated_mail_is_read_or_refused_as_malformed_never_an_error(raw: bytes) -> None:
    try:
        parsed = parse_email(raw, max_attachment_bytes=150)
    except (MalformedEmail, AttachmentTooLarge):
        return
    assert isinstance(parsed.text, str)
    assert all(a.size <= 150 for a in parsed.attachments)


@PROPERTY
@given(text=TEXT.filter(lambda t: t.strip() and "\x1b" not in t), subject=TEXT)
def test_a_utf8_plain_text_mail_reads_back_its_text(text: str, subject: str) -> None:
    raw = (
        b"From: someone@example.com\r\nSubject: =?utf-8?b?"
        + base64.b64encode(subject.encode())
        + b"?=\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        + b"Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.b64encode(text.encode())
    )
    parsed = parse_email(raw)
    assert parsed.text == text.replace("\r\n", "\n").strip()


def test_three_thousand_nested_parts_are_refused_as_malformed() -> None:
    raw = b"From: a@example.com\r\nMIME-Version: 1.0\r\n"
    for level in range(3000):
        raw += b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (level, level)
    raw += b"Content-Type: text/plain\r\n\r\nhello\r\n"
    with pytest.raises(MalformedEmail, match="nested"):
        parse_email(raw)


def test_a_charset_label_naming_a_codec_that_is_not_text_reads_the_bytes_as_text() -> None:
    for label in ("base64", "zlib", "rot13", "hex", "undefined", "idna"):
        raw = (
            f"From: a@example.com\r\nContent-Type: text/plain; charset={label}\r\n\r\n".encode() + "你好".encode()
        )
        assert parse_email(raw).text == "你好"


def test_an_import_with_a_huge_csv_field_or_deep_json_line_is_reported_never_an_error() -> None:
    huge = b"external_ref,name\nC-1," + b"x" * 200_000 + b"\nC-2,Li\n"
    rows = list(read_import(huge, content_type="text/csv", region="CN"))
    assert isinstance(rows[-1], ImportError_) and "not CSV" in rows[-1].error
    deep = b'{"external_ref": "C-3", "attributes": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n"
    lines = list(read_import(deep, content_type="application/x-ndjson", region="CN"))
    assert isinstance(lines[0], ImportError_) and "nested" in lines[0].error

"""Every real email in ../shared/data/emails parses with the subject and sender decoded correctly and text where
the message has text; expectations come from expected.jsonl (CPython's literal decode, or the recovered value
where that decode is garbage)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from services.intake.domain.channels import email_inbound
from services.intake.domain.mime import parse_email
from tests.support import ROOT

EMAILS = ROOT.parent / "shared" / "data" / "emails"
EXPECTED = [json.loads(line) for line in (EMAILS / "expected.jsonl").read_text(encoding="utf-8").splitlines()]

# Messages with no text at all: the file's only content is an attachment, or its body is empty.
NO_TEXT = {
    "mikel_mail/empty_in_reply_to.eml": "multipart/related whose body is empty",
    "mikel_mail/attachment_quoted_filename_estonian.eml": "a single image/jpeg part",
    "mailgun_flanker/false_multipart.eml": "multipart header, no body",
    "mailgun_flanker/outlook_express_attachment.eml": "a single application/octet-stream part",
}


def squeeze(value: str | None) -> str | None:
    return " ".join(value.split()) if value is not None else None


def is_garbage(value: object) -> bool:
    """expected.jsonl keeps CPython's literal decode; replacement characters or escaped surrogates mean garbage."""
    return isinstance(value, str) and ("\ufffd" in value or "\\udc" in value)


def case_id(entry: dict[str, Any]) -> str:
    return str(entry["file"])


def test_the_fixture_set_is_complete_and_unchanged() -> None:
    assert len(EXPECTED) == 57
    for entry in EXPECTED:
        data = (EMAILS / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["file"]


@pytest.mark.parametrize("entry", EXPECTED, ids=case_id)
def test_real_email_decodes_subject_sender_and_text(entry: dict[str, Any]) -> None:
    parsed = parse_email((EMAILS / entry["file"]).read_bytes())

    expected_subject = entry.get("subject_recovered", entry["subject"])
    if is_garbage(expected_subject):
        assert parsed.subject and "\ufffd" not in parsed.subject
        assert all(not 0xDC80 <= ord(c) <= 0xDCFF for c in parsed.subject), "no surrogate escapes leak out"
    else:
        assert squeeze(parsed.subject) == squeeze(expected_subject)

    expected_address = entry.get("from_addr_recovered", entry["from_addr"])
    if expected_address is None:
        assert parsed.sender is None
    else:
        assert parsed.sender is not None and parsed.sender.address == expected_address

    expected_name = entry.get("from_display_recovered", entry["from_display"])
    if expected_name and not is_garbage(expected_name) and parsed.sender is not None:
        assert squeeze(parsed.sender.name) == squeeze(expected_name.strip('"'))

    inbound = email_inbound(parsed, region="CN")
    if entry["file"] in NO_TEXT:
        assert not parsed.text.strip()
    else:
        assert inbound.text.strip(), "a message with text has a non-empty clean text"
        assert "\ufffd" not in inbound.text[:200] or entry["defects"], (
            "text decodes without replacement characters"
        )
    assert len(parsed.attachments) >= min(entry["attachments"], 1) if entry["attachments"] else True
    if entry["message_id"]:
        assert parsed.message_id == entry["message_id"]
    assert bool(parsed.in_reply_to) == entry["in_reply_to"]


def test_recovered_fields_are_better_than_the_literal_decode() -> None:
    """The files whose literal decode is garbage are read correctly: Big5 double-encoded, raw 8-bit Latin-1,
    raw UTF-8 headers, ISO-2022-JP with NEC extensions."""
    recovered = {e["file"]: e for e in EXPECTED if any(k.endswith("_recovered") for k in e)}
    assert len(recovered) == 5
    big5 = parse_email((EMAILS / "mikel_mail/big5_double_encoded_subject.eml").read_bytes())
    assert big5.subject is not None and "大補泡麵專賣" in big5.subject
    nec = parse_email((EMAILS / "php-mime-mail-parser/iso2022jp_nec_extension.eml").read_bytes())
    assert nec.subject == "ЖД№41 от 28.09.2016"


def test_attachments_are_metadata_with_size_and_sha256_not_content() -> None:
    parsed = parse_email((EMAILS / "nodemailer_mailparser/unicode_friendly_html_attachments.eml").read_bytes())
    assert len(parsed.attachments) == 3
    for attachment in parsed.attachments:
        assert attachment.size > 0
        assert len(attachment.sha256) == 64
        assert attachment.content_type
    forwarded = parse_email((EMAILS / "mikel_mail/forward_as_message_rfc822.eml").read_bytes())
    assert [a.content_type for a in forwarded.attachments] == ["application/pdf"]
    assert "Forwarded message" in forwarded.text


def test_gmail_reply_keeps_only_the_new_text() -> None:
    inbound = email_inbound(parse_email((EMAILS / "mailgun_talon/reply_gmail.eml").read_bytes()), region="CN")
    assert inbound.text
    assert "wrote:" not in inbound.text
    assert inbound.original.count("\n") > inbound.text.count("\n")


def test_mislabelled_gb2312_body_that_is_really_utf8_reads_as_chinese() -> None:
    parsed = parse_email((EMAILS / "spamscope_mail-parser/gb2312_8bit_chinese_spam.eml").read_bytes())
    assert parsed.subject == "代开各地增值税发票"
    assert parsed.sender is not None and parsed.sender.name == "张先生"
    assert "增值税" in parsed.text


def fixture_path(name: str) -> Path:
    return EMAILS / name

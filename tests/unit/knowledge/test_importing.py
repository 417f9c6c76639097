"""Bulk import parsing: JSON lines and Markdown with front matter, with an error per bad item."""

from __future__ import annotations

import json

from services.knowledge.domain.importing import parse_json_lines, parse_markdown


def test_json_lines_import_the_good_items_and_report_each_bad_one_by_line() -> None:
    lines = [
        json.dumps({"id": "a-1", "title": "退款", "body": "正文", "lang": "zh", "tags": ["退款"]}),
        "{not json",
        json.dumps({"id": "a-3", "title": "Refunds", "body": "text", "language": "fr"}),
        "",
        json.dumps(
            {"external_id": "a-5", "title": "帳戶", "body": "內容", "language": "zh-TW", "status": "published"}
        ),
    ]
    items, errors = parse_json_lines("\n".join(lines))
    assert [(i.external_id, i.content.language, i.publish) for i in items] == [
        ("a-1", "zh-Hans", False),
        ("a-5", "zh-Hant", True),
    ]
    assert [(e.position, e.external_id) for e in errors] == [("line 2", None), ("line 3", "a-3")]
    assert "language" in errors[1].error


def test_markdown_documents_split_on_front_matter_and_keep_horizontal_rules_in_bodies() -> None:
    text = """---
title: 如何退款
language: zh-Hans
tags: [退款, 账单]
channels: chat, email
---
# 步骤

第一步

---

第二步
---
title: Reset a password
language: en
visibility: public
---
Open settings.
---
language: en
title:
---
No title here.
"""
    items, errors = parse_markdown(text)
    assert [i.content.title for i in items] == ["如何退款", "Reset a password"]
    assert "第二步" in items[0].content.body and "---" in items[0].content.body
    assert items[0].content.channels == ("chat", "email") and items[1].content.visibility == "public"
    assert len(errors) == 1 and errors[0].position.startswith("document 3")


def test_markdown_without_front_matter_is_one_clear_error() -> None:
    items, errors = parse_markdown("# just a heading\n")
    assert items == [] and "front matter" in errors[0].error

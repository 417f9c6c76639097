"""The review workflow, role checks, versions, review-by dates and diffs (pure domain)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.knowledge.domain.article import (
    Article,
    Content,
    InvalidArticle,
    InvalidTransition,
    NotAllowed,
    StaleVersion,
    Version,
    clean_content,
    diff_versions,
    edit,
    language_family,
    markdown_to_text,
    new_article,
    set_review_by,
    transition,
)
from shared.events import CHANNELS

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def draft() -> Article:
    return new_article(article_id=uuid.uuid4(), author="agent:a1", role="agent", owner=None, now=NOW)


def published(review_days: int = 180) -> Article:
    article = transition(draft(), "submit", role="agent", actor="agent:a1", now=NOW, review_days=review_days)
    return transition(
        article, "publish", role="supervisor", actor="supervisor:s1", now=NOW, review_days=review_days
    )


def test_authors_draft_and_submit_but_only_reviewers_publish() -> None:
    in_review = transition(draft(), "submit", role="agent", actor="agent:a1", now=NOW, review_days=180)
    assert in_review.status == "review"
    with pytest.raises(NotAllowed):
        transition(in_review, "publish", role="agent", actor="agent:a1", now=NOW, review_days=180)
    live = transition(in_review, "publish", role="admin", actor="admin:a1", now=NOW, review_days=180)
    assert live.status == "published" and live.published_version == 1 and live.live


def test_an_agent_edits_and_submits_only_the_articles_they_wrote_or_own_and_reviewers_any() -> None:
    mine = draft()
    with pytest.raises(NotAllowed):
        edit(mine, role="agent", actor="agent:a2", base_version=None, now=NOW)
    with pytest.raises(NotAllowed):
        transition(mine, "submit", role="agent", actor="agent:a2", now=NOW, review_days=180)
    assert edit(mine, role="supervisor", actor="supervisor:s1", base_version=None, now=NOW).current_version == 2
    handed_over = replace(mine, owner="a2")  # an owner named by agent id, as a reviewer reassigns it
    assert transition(handed_over, "submit", role="agent", actor="agent:a2", now=NOW, review_days=180).status == (
        "review"
    )
    assert edit(handed_over, role="agent", actor="agent:a1", base_version=None, now=NOW).current_version == 2
    with pytest.raises(NotAllowed):
        edit(handed_over, role="agent", actor="agent:a3", base_version=None, now=NOW)


def test_publishing_skips_no_step_of_the_workflow() -> None:
    with pytest.raises(InvalidTransition):
        transition(draft(), "publish", role="supervisor", actor="supervisor:s1", now=NOW, review_days=180)


def test_ops_and_adapters_write_no_articles() -> None:
    with pytest.raises(NotAllowed):
        new_article(article_id=uuid.uuid4(), author="ops:o", role="ops", owner=None, now=NOW)


def test_publishing_sets_the_review_by_date_from_the_configured_days() -> None:
    assert published(180).review_by == NOW + timedelta(days=180)
    assert published(30).review_by == NOW + timedelta(days=30)


def test_an_article_is_overdue_once_its_review_by_date_passes() -> None:
    article = published(180)
    assert not article.overdue(NOW + timedelta(days=179))
    assert article.overdue(NOW + timedelta(days=180))


def test_editing_a_published_article_keeps_the_published_version_live() -> None:
    edited = edit(published(), role="agent", actor="agent:a1", base_version=1, now=NOW)
    assert edited.current_version == 2 and edited.published_version == 1
    assert edited.status == "draft" and edited.live


def test_an_edit_of_an_outdated_version_is_refused() -> None:
    with pytest.raises(StaleVersion):
        edit(
            edit(draft(), role="agent", actor="agent:a1", base_version=1, now=NOW),
            role="agent",
            actor="agent:a1",
            base_version=1,
            now=NOW,
        )


def test_archiving_takes_an_article_out_of_search_and_restore_brings_back_a_draft() -> None:
    archived = transition(
        published(), "archive", role="supervisor", actor="supervisor:s1", now=NOW, review_days=180
    )
    assert not archived.live and archived.review_by is None
    with pytest.raises(InvalidTransition):
        edit(archived, role="supervisor", actor="supervisor:s1", base_version=None, now=NOW)
    restored = transition(archived, "restore", role="supervisor", actor="supervisor:s1", now=NOW, review_days=180)
    assert restored.status == "draft" and not restored.live


def test_only_reviewers_set_a_future_review_date() -> None:
    with pytest.raises(NotAllowed):
        set_review_by(published(), role="agent", review_by=NOW + timedelta(days=1), now=NOW)
    with pytest.raises(InvalidArticle):
        set_review_by(published(), role="supervisor", review_by=NOW, now=NOW)


def test_content_is_trimmed_deduplicated_and_checked() -> None:
    content = clean_content(
        Content(title="  退款  流程 ", body="正文", language="zh-Hans", tags=("退款", "退款 ", "VIP", "vip")),
        channels_known=CHANNELS,
    )
    assert content.title == "退款 流程" and content.tags == ("退款", "VIP")
    with pytest.raises(InvalidArticle, match="channels"):
        clean_content(Content(title="t", body="b", language="en", channels=("fax",)), channels_known=CHANNELS)
    with pytest.raises(InvalidArticle, match="body"):
        clean_content(Content(title="t", body="  ", language="en"), channels_known=CHANNELS)


def test_a_diff_shows_changed_text_as_unified_diff_and_changed_lists_whole() -> None:
    old = Version(uuid.uuid4(), 1, Content(title="A", body="one\ntwo", language="en", tags=("x",)), "a", NOW)
    new = Version(old.article_id, 2, Content(title="A", body="one\nthree", language="en", tags=("y",)), "a", NOW)
    changes = {c.field: c for c in diff_versions(old, new)}
    assert set(changes) == {"body", "tags"}
    assert "-two" in changes["body"].diff and "+three" in changes["body"].diff
    assert changes["tags"].before == ["x"] and changes["tags"].after == ["y"]


def test_markdown_becomes_readable_text_for_snippets() -> None:
    text = markdown_to_text("# 标题\n\n1. 打开**设置**\n2. 见[帮助](https://x.example)\n\n```\ncode\n```")
    assert text == "标题\n打开设置\n见帮助\ncode"


def test_contact_languages_map_to_article_language_families() -> None:
    assert language_family("zh-CN") == frozenset({"zh-Hans", "zh-Hant"})
    assert language_family("zh-Hant") == frozenset({"zh-Hans", "zh-Hant"})
    assert language_family("en-GB") == frozenset({"en"})
    assert language_family(None) is None and language_family("fr") is None

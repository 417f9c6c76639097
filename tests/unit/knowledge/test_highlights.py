"""Highlights mark matches on the original text, across scripts and word forms, and escape HTML."""

from __future__ import annotations

from services.knowledge.analysis import Analyzer
from services.knowledge.highlights import compile_matcher, mark_all, snippet


def test_a_simplified_query_marks_the_traditional_title(analyzer: Analyzer) -> None:
    matcher = compile_matcher(analyzer.terms("账户密码"))
    assert (
        mark_all("重設帳戶密碼", matcher, analyzer.fold_for_highlight) == "重設<mark>帳戶</mark><mark>密碼</mark>"
    )


def test_an_english_stem_marks_the_whole_word_and_html_is_escaped(analyzer: Analyzer) -> None:
    matcher = compile_matcher(analyzer.terms("reset"))
    marked = mark_all("<b>Resetting</b> passwords", matcher, analyzer.fold_for_highlight)
    assert marked == "&lt;b&gt;<mark>Resetting</mark>&lt;/b&gt; passwords"


def test_the_snippet_is_the_window_around_the_matches(analyzer: Analyzer) -> None:
    text = "开头无关内容。" * 40 + "退款会在三个工作日内原路退回。" + "结尾无关内容。" * 40
    result = snippet(text, compile_matcher(analyzer.terms("退款退回")), analyzer.fold_for_highlight, size=60)
    assert "<mark>退款</mark>" in result and result.startswith("…") and result.endswith("…")
    assert len(result.replace("<mark>", "").replace("</mark>", "")) <= 62

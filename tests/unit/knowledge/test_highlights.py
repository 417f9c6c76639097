"""Highlights mark matches on the original text, across scripts and word forms, and escape HTML."""

from __future__ import annotations

import re

from services.knowledge.domain.analysis import Analyzer
from services.knowledge.domain.highlights import (
    align,
    compile_matcher,
    flat,
    mark_aligned,
    mark_all,
    snippet,
    snippet_aligned,
)


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


def test_a_fold_that_changes_length_still_marks_the_right_characters(analyzer: Analyzer) -> None:
    # OpenCC turns the phrase 那杜 into 温纳图万 (two characters into four): the rest must stay aligned.
    text = "萬那杜的帳戶密碼，請重設帳戶。"
    assert len(analyzer.fold_for_highlight(text)) != len(text)
    aligned = align(text, analyzer.fold_for_highlight)
    assert len(aligned.folded) == len(text)
    marked = mark_aligned(aligned, compile_matcher(analyzer.terms("账户")))
    assert marked == "萬那杜的<mark>帳戶</mark>密碼，請重設<mark>帳戶</mark>。"


def test_a_snippet_of_an_aligned_text_equals_the_one_computed_from_scratch(analyzer: Analyzer) -> None:
    text = "如何重置密碼？ 打开设置页面，点击忘记密码。" * 6
    matcher = compile_matcher(analyzer.terms("密码设置"))
    prepared = align(flat(text), analyzer.fold_for_highlight)
    assert snippet_aligned(prepared, matcher, size=40) == snippet(
        text, matcher, analyzer.fold_for_highlight, size=40
    )
    assert "<mark>密碼</mark>" in snippet_aligned(prepared, matcher, size=40)


def test_the_matcher_finds_what_one_regex_scan_for_the_longest_term_would(analyzer: Analyzer) -> None:
    texts = [
        "重置账户密码：打开设置，点击忘记密码；账户被锁定时联系客服。密码密码码",
        "resetting a password resets the account; reset-links and unreset words, _reset and reset_x too",
        "用iphone重置密码 then reset the 账户 again (resets: 3)",
    ]
    for query in ("重置账户密码", "reset password account", "账户 reset 密码", "码 密码 密"):
        terms = analyzer.terms(query)
        # The reference: one alternation, longest first, English stems anchored at a word boundary.
        ordered = sorted(set(terms), key=lambda t: (-len(t), t))
        reference = re.compile(
            "|".join(re.escape(t) if not t.isascii() else rf"\b{re.escape(t)}\w*" for t in ordered)
        )
        matcher = compile_matcher(terms)
        assert matcher is not None
        for text in texts:
            folded = analyzer.fold_for_highlight(text)
            expected = [(m.start(), m.end()) for m in reference.finditer(folded)]
            assert matcher.spans(folded) == expected, (query, text)
            assert matcher.search(folded) == bool(expected)

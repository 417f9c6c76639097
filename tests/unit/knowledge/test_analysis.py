"""Text analysis: Chinese segmentation with the product dictionary, script folding, English normalisation."""

from __future__ import annotations

from services.knowledge.domain.analysis import Analyzer, expand, query_key, synonym_group


def test_traditional_and_simplified_text_give_the_same_terms(analyzer: Analyzer) -> None:
    assert analyzer.terms("重設帳戶密碼") == analyzer.terms("重设账户密码")
    assert analyzer.terms("資料庫連線逾時") == analyzer.terms("数据库连接逾时")


def test_product_terms_from_the_custom_dictionary_stay_whole(analyzer: Analyzer) -> None:
    assert "闪电贷" in analyzer.terms("闪电贷绑卡失败")
    assert "闪电贷" not in Analyzer().terms("闪电贷绑卡失败")


def test_english_is_case_folded_stemmed_and_stripped_of_stop_words(analyzer: Analyzer) -> None:
    assert analyzer.terms("Resetting the PASSWORDS of my Accounts") == ["reset", "password", "account"]


def test_possessives_and_full_width_letters_normalise(analyzer: Analyzer) -> None:
    assert analyzer.terms("Ｇｍａｉｌ’s filters") == ["gmail", "filter"]


def test_chinese_question_words_and_punctuation_are_not_terms(analyzer: Analyzer) -> None:
    terms = analyzer.terms("请问，怎么退款？")
    assert terms == ["退款"]


def test_mixed_text_keeps_numbers_and_both_scripts(analyzer: Analyzer) -> None:
    terms = analyzer.terms("iPhone 15 无法使用微信支付")
    assert "iphon" in terms and "15" in terms and "微信支付" in terms


def test_the_analyser_fingerprint_changes_with_the_dictionary(analyzer: Analyzer) -> None:
    assert Analyzer(["云闪付"]).fingerprint != Analyzer(["云闪付", "花呗"]).fingerprint
    assert Analyzer(["云闪付"]).fingerprint == Analyzer(["云闪付"]).fingerprint


def test_a_synonym_adds_the_other_members_at_a_lower_weight(analyzer: Analyzer) -> None:
    group = synonym_group(analyzer, ["退款", "退钱", "refund"])
    expanded = dict(expand(analyzer.terms("怎么退钱"), [group], 0.6))
    assert expanded == {"退钱": 1.0, "退款": 0.6, "refund": 0.6}


def test_a_multi_word_synonym_applies_only_when_all_its_words_are_asked(analyzer: Analyzer) -> None:
    group = synonym_group(analyzer, ["reset password", "找回密码"])
    assert dict(expand(analyzer.terms("password"), [group], 0.5)) == {"password": 1.0}
    assert "找回" in dict(expand(analyzer.terms("reset my password"), [group], 0.5))


def test_queries_that_differ_in_script_case_and_spacing_share_a_gap_key(analyzer: Analyzer) -> None:
    assert query_key(analyzer, "  帳戶  Locked ") == query_key(analyzer, "账户 locked")

"""Search terms: either Chinese script finds the other, any Chinese word is found without a dictionary, English
by its words."""

from __future__ import annotations

from services.intake.domain.search import query_terms, terms


def found(text: str, query: str) -> bool:
    return set(query_terms(query)) <= set(terms(text))


def test_a_chinese_word_is_found_in_either_script_without_a_dictionary() -> None:
    text = "从昨天开始宽带就连不上，账单也不对"
    assert found(text, "宽带")
    assert found(text, "寬頻")  # Taiwan's word for broadband folds to the mainland one (OpenCC's phrases)
    assert found(text, "帳單")  # Traditional query, Simplified text
    assert found("我的帳號被盜了", "账号被盗")  # and the other way round
    assert found(text, "连不上")
    assert not found(text, "连不下")
    assert found(text, "宽")  # one character alone is a term


def test_english_words_match_case_and_width_insensitively() -> None:
    assert found("Router NOT working since Monday", "router working")
    assert found("ＷｉＦｉ is down", "wifi")
    assert not found("Router not working", "modem")


def test_terms_are_bounded_and_unique() -> None:
    many = terms("宽带" * 10_000 + " word" * 10)
    assert len(many) == len(set(many)) <= 4000
    assert query_terms("") == []

"""BM25F ranking, field boosts, filters, visibility, pagination and replacement in the in-memory index."""

from __future__ import annotations

import dataclasses
import math
import uuid
from typing import Any

from services.knowledge.domain.ranking import (
    FieldTerms,
    IndexedArticle,
    QueryTerm,
    Ranking,
    SearchFilter,
    SearchIndex,
)

STAFF = SearchFilter(visibilities=frozenset({"internal", "public"}))
PUBLIC = SearchFilter(visibilities=frozenset({"public"}))


def indexed(**overrides: Any) -> IndexedArticle:
    values: dict[str, Any] = {
        "article_id": uuid.uuid4(),
        "version": 1,
        "title": "t",
        "summary": "",
        "body_text": "b",
        "language": "en",
        "category": "",
        "tags": (),
        "channels": (),
        "products": (),
        "visibility": "internal",
        "published_at": None,
    }
    values.update(overrides)
    return IndexedArticle(**values)


def terms(title: str = "", tags: str = "", summary: str = "", body: str = "") -> FieldTerms:
    return FieldTerms(title.split(), tags.split(), summary.split(), body.split())


def q(*words: str) -> list[QueryTerm]:
    return [QueryTerm(w) for w in words]


def ids(
    index: SearchIndex, query: list[QueryTerm], search_filter: SearchFilter = STAFF, **kw: Any
) -> list[uuid.UUID]:
    return [h.article.article_id for h in index.search(query, search_filter, **kw).hits]


def test_a_single_field_score_equals_textbook_bm25() -> None:
    index = SearchIndex(Ranking(boosts={"title": 1.0, "tags": 1.0, "summary": 1.0, "body": 1.0}, k1=1.2))
    docs = ["refund card card", "refund", "other words here"]
    for body in docs:
        index.upsert(indexed(), terms(body=body))
    score = index.search(q("card"), STAFF).hits[0].score
    n, df, avg = 3, 1, (3 + 1 + 3) / 3
    idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
    tf = 2 / (1 - 0.75 + 0.75 * 3 / avg)
    assert math.isclose(score, idf * tf * 2.2 / (1.2 + tf), rel_tol=1e-5)


def test_a_title_match_outranks_the_same_match_in_tags_summary_and_body() -> None:
    index = SearchIndex()
    by_field = {}
    for name in ("body", "summary", "tags", "title"):
        article = indexed()
        by_field[name] = article.article_id
        fields = {"title": "filler", "tags": "filler", "summary": "filler", "body": "filler", name: "refund"}
        index.upsert(article, terms(**fields))
    assert ids(index, q("refund")) == [by_field["title"], by_field["tags"], by_field["summary"], by_field["body"]]


def test_rare_terms_weigh_more_than_common_ones() -> None:
    index = SearchIndex()
    common = [indexed() for _ in range(5)]
    for article in common:
        index.upsert(article, terms(body="account filler"))
    rare = indexed()
    index.upsert(rare, terms(body="chargeback filler"))
    both = indexed()
    index.upsert(both, terms(body="account chargeback"))
    assert ids(index, q("account", "chargeback"))[0] == both.article_id
    assert ids(index, q("account", "chargeback"))[1] == rare.article_id


def test_adapters_see_public_articles_only() -> None:
    index = SearchIndex()
    internal, public = indexed(visibility="internal"), indexed(visibility="public")
    index.upsert(internal, terms(body="refund"))
    index.upsert(public, terms(body="refund"))
    assert ids(index, q("refund"), PUBLIC) == [public.article_id]
    assert set(ids(index, q("refund"))) == {internal.article_id, public.article_id}


def test_filters_by_language_category_channel_and_product_with_empty_meaning_all() -> None:
    index = SearchIndex()
    chat_only = indexed(channels=("chat",), category="Billing", products=("云闪付",))
    everywhere = indexed(category="billing")
    chinese = indexed(language="zh-Hant", category="billing")
    for article in (chat_only, everywhere, chinese):
        index.upsert(article, terms(body="refund"))
    english = dataclasses.replace(STAFF, languages=frozenset({"en"}))
    assert set(ids(index, q("refund"), english)) == {chat_only.article_id, everywhere.article_id}
    assert set(ids(index, q("refund"), dataclasses.replace(STAFF, channel="email"))) == {
        everywhere.article_id,
        chinese.article_id,
    }
    assert set(ids(index, q("refund"), dataclasses.replace(STAFF, product="云闪付"))) == {
        chat_only.article_id,
        everywhere.article_id,
        chinese.article_id,
    }
    assert len(ids(index, q("refund"), dataclasses.replace(STAFF, category="BILLING"))) == 3


def test_pages_do_not_overlap_and_total_counts_every_match() -> None:
    index = SearchIndex()
    for n in range(25):
        index.upsert(indexed(), terms(body="refund " + "pad " * n))
    first = index.search(q("refund"), STAFF, limit=10, offset=0)
    second = index.search(q("refund"), STAFF, limit=10, offset=10)
    third = index.search(q("refund"), STAFF, limit=10, offset=20)
    seen = [h.article.article_id for page in (first, second, third) for h in page.hits]
    assert first.total == 25 and len(seen) == 25 and len(set(seen)) == 25
    scores = [h.score for page in (first, second, third) for h in page.hits]
    assert scores == sorted(scores, reverse=True)


def test_a_new_version_replaces_the_old_one_and_removal_takes_it_out() -> None:
    index = SearchIndex()
    article = indexed()
    index.upsert(article, terms(body="refund"))
    index.upsert(dataclasses.replace(article, version=2), terms(body="chargeback"))
    assert ids(index, q("refund")) == []
    assert index.search(q("chargeback"), STAFF).hits[0].article.version == 2
    assert index.remove(article.article_id)
    assert ids(index, q("chargeback")) == [] and len(index) == 0
    assert index.dead_share() == 1.0


def test_a_preferred_category_lifts_but_does_not_filter() -> None:
    index = SearchIndex()
    complaint, enquiry = indexed(category="complaint"), indexed(category="enquiry")
    index.upsert(complaint, terms(body="refund late"))
    index.upsert(enquiry, terms(body="refund late late"))
    plain = ids(index, q("refund", "late"))
    preferred = ids(index, q("refund", "late"), prefer_category="complaint", category_factor=2.0)
    assert plain[0] == enquiry.article_id and preferred[0] == complaint.article_id and len(preferred) == 2


def test_nothing_matches_an_unknown_term() -> None:
    index = SearchIndex()
    index.upsert(indexed(), terms(body="refund"))
    page = index.search(q("zzz"), STAFF)
    assert page.total == 0 and page.hits == []


def test_indexing_many_at_once_scores_exactly_as_one_by_one() -> None:
    bodies = ["refund card card", "refund", "card late late late", "other words", "refund late card"]
    one_by_one, at_once = SearchIndex(), SearchIndex()
    articles = [indexed() for _ in bodies]
    for article, body in zip(articles, bodies, strict=True):
        one_by_one.upsert(article, terms(title=body.split()[0], body=body))
    at_once.upsert_many([(a, terms(title=b.split()[0], body=b)) for a, b in zip(articles, bodies, strict=True)])
    for query in (q("refund"), q("card", "late"), q("late", "refund", "card")):
        expected = [(h.article.article_id, h.score) for h in one_by_one.search(query, STAFF).hits]
        assert [(h.article.article_id, h.score) for h in at_once.search(query, STAFF).hits] == expected
        assert expected


def test_a_change_to_the_index_is_seen_by_the_next_search_of_a_cached_term() -> None:
    index = SearchIndex()
    first = indexed()
    index.upsert(first, terms(body="refund"))
    before = index.search(q("refund"), STAFF).hits[0].score
    second = indexed()
    index.upsert(second, terms(body="refund refund"))
    after = index.search(q("refund"), STAFF)
    assert after.total == 2 and after.hits[0].article.article_id == second.article_id
    assert index.search(q("refund"), STAFF).hits[1].score != before  # idf and lengths changed
    index.remove(second.article_id)
    assert ids(index, q("refund")) == [first.article_id]

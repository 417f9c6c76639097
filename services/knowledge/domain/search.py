"""The search engine's pure part: an analyser, the tuning and synonyms, and the in-memory BM25F index with the
texts highlights need; it answers queries and applies stored documents, and does no I/O (`search.py` loads it
from PostgreSQL and keeps it in step)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from services.knowledge.domain.analysis import Analyzer, SynonymGroup, expand
from services.knowledge.domain.article import Content
from services.knowledge.domain.highlights import (
    Aligned,
    align,
    compile_matcher,
    flat,
    mark_aligned,
    matches,
    snippet_aligned,
)
from services.knowledge.domain.ranking import (
    FIELDS,
    FieldTerms,
    IndexedArticle,
    QueryTerm,
    Ranking,
    SearchFilter,
    SearchIndex,
    StoredDocument,
)

MAX_QUERY_TERMS = 48
"""A long contact message keeps its most specific terms (highest idf); the rest add cost, not precision."""


@lru_cache(maxsize=4)
def analyzer_for(product_terms: tuple[str, ...]) -> Analyzer:
    """One analyser per dictionary per process: building one loads jieba's dictionary."""
    return Analyzer(product_terms)


@dataclass(frozen=True)
class Tuning:
    """The knowledge_setting rows the engine and the workflow read."""

    review_days: int = 180
    suggestion_count: int = 3
    suggestion_min_score: float = 1.0
    synonym_weight: float = 0.6
    boosts: dict[str, float] = field(
        default_factory=lambda: {"title": 5.0, "tags": 2.0, "summary": 1.5, "body": 1.0}
    )

    @classmethod
    def from_rows(cls, values: dict[str, object]) -> Tuning:
        def number(name: str, default: float) -> float:
            value = values.get(name, default)
            return float(value) if isinstance(value, int | float) else default

        default = cls()
        return cls(
            review_days=int(number("review_days", default.review_days)),
            suggestion_count=int(number("suggestion_count", default.suggestion_count)),
            suggestion_min_score=number("suggestion_min_score", default.suggestion_min_score),
            synonym_weight=number("synonym_weight", default.synonym_weight),
            boosts={f: number(f"boost_{f}", default.boosts[f]) for f in FIELDS},
        )


@dataclass(frozen=True, slots=True)
class Display:
    """An article's texts as highlights need them, aligned with their folds once at indexing."""

    title: Aligned
    summary: Aligned
    body: Aligned
    """White space collapsed (as `IndexedArticle.body_text` already is), as the snippet shows it."""


@dataclass(frozen=True)
class Result:
    article: IndexedArticle
    score: float
    title_html: str
    snippet_html: str


@dataclass(frozen=True)
class Results:
    total: int
    results: list[Result]
    terms: list[str]


class Searcher:
    def __init__(self, analyzer: Analyzer, tuning: Tuning, synonyms: Sequence[SynonymGroup] = ()) -> None:
        self.analyzer = analyzer
        self.tuning = tuning
        self.synonyms = list(synonyms)
        self.index = SearchIndex(Ranking(boosts=dict(tuning.boosts)))
        self.revision = 0
        self._display: dict[uuid.UUID, Display] = {}

    def analyse(self, content: Content) -> FieldTerms:
        terms = self.analyzer.terms
        return FieldTerms(
            title=terms(content.title),
            tags=[t for tag in content.tags for t in terms(tag)],
            summary=terms(content.summary),
            body=terms(content.body),
        )

    def apply(self, pending: Sequence[StoredDocument], *, revision: int) -> None:
        """Apply stored documents (in revision order: the last state of an article wins) up to `revision`."""
        latest = {d.article.article_id: d for d in pending}
        live = [d for d in latest.values() if d.live and d.analyzer == self.analyzer.fingerprint]
        for article_id, document in latest.items():
            if not (document.live and document.analyzer == self.analyzer.fingerprint):
                self.index.remove(article_id)
                self._display.pop(article_id, None)
        self.index.upsert_many([(d.article, d.terms) for d in live])
        for document in live:
            self._display[document.article.article_id] = self.display(document.article)
        self.revision = revision

    def display(self, article: IndexedArticle) -> Display:
        fold = self.analyzer.fold_for_highlight
        return Display(
            title=align(article.title, fold),
            summary=align(flat(article.summary), fold),
            body=align(article.body_text, fold),  # already flat
        )

    def query_terms(self, text: str) -> list[QueryTerm]:
        terms = self.analyzer.terms(text)
        unique = list(dict.fromkeys(terms))
        if len(unique) > MAX_QUERY_TERMS:
            keep = set(sorted(unique, key=self.index.document_frequency)[:MAX_QUERY_TERMS])
            terms = [t for t in terms if t in keep]
        return [QueryTerm(t, w) for t, w in expand(terms, self.synonyms, self.tuning.synonym_weight)]

    def search(
        self,
        text: str,
        search_filter: SearchFilter,
        *,
        limit: int = 10,
        offset: int = 0,
        prefer_category: str | None = None,
        category_factor: float = 1.0,
        highlight: bool = True,
    ) -> Results:
        query = self.query_terms(text)
        page = self.index.search(
            query,
            search_filter,
            limit=limit,
            offset=offset,
            prefer_category=prefer_category,
            category_factor=category_factor,
        )
        terms = list(dict.fromkeys(q.term for q in query))
        if not highlight:
            results = [
                Result(article=hit.article, score=hit.score, title_html="", snippet_html="") for hit in page.hits
            ]
            return Results(total=page.total, results=results, terms=terms)
        matcher = compile_matcher(terms)
        results = []
        for hit in page.hits:
            shown = self._display.get(hit.article.article_id) or self.display(hit.article)
            source = shown.summary if matches(matcher, shown.summary) else shown.body
            results.append(
                Result(
                    article=hit.article,
                    score=hit.score,
                    title_html=mark_aligned(shown.title, matcher),
                    snippet_html=snippet_aligned(source, matcher),
                )
            )
        return Results(total=page.total, results=results, terms=terms)

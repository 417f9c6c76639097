"""The search engine of one knowledge process: analyser + in-memory BM25F index, kept consistent with PostgreSQL.

PostgreSQL is the truth: `search_document` holds the analysed terms of every live version with a revision from
one sequence. At start-up the engine re-analyses live versions whose terms are missing or from another
analyser, then loads every row; afterwards `refresh` applies rows with a newer revision (the writer calls it
right after its commit, and a background loop calls it every `index_poll_s`, so other instances follow).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

from services.knowledge.domain.analysis import Analyzer, SynonymGroup, expand, synonym_group
from services.knowledge.domain.article import Content, Version
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
from services.knowledge.repository.documents import (
    DocumentTerms,
    documents_since,
    save_documents,
    stale_live_versions,
)
from services.knowledge.repository.tuning import list_product_terms, list_settings, list_synonyms
from shared.db import Conn

log = logging.getLogger(__name__)

MAX_QUERY_TERMS = 48
"""A long contact message keeps its most specific terms (highest idf); the rest add cost, not precision."""
REPAIR_BATCH = 200


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


class SearchEngine:
    def __init__(self, analyzer: Analyzer, tuning: Tuning, synonyms: Sequence[SynonymGroup] = ()) -> None:
        self.analyzer = analyzer
        self.tuning = tuning
        self.synonyms = list(synonyms)
        self.index = SearchIndex(Ranking(boosts=dict(tuning.boosts)))
        self.revision = 0
        self._refresh_lock = asyncio.Lock()
        self._display: dict[uuid.UUID, Display] = {}

    @classmethod
    async def load(cls, conn: Conn, *, now: datetime) -> SearchEngine:
        terms = tuple(await list_product_terms(conn))
        analyzer = await asyncio.to_thread(analyzer_for, terms)
        engine = cls(analyzer, await load_tuning(conn))
        await engine.load_synonyms(conn)
        await engine.repair(conn, now=now)
        await engine.refresh(conn)
        return engine

    async def load_synonyms(self, conn: Conn) -> None:
        self.synonyms = [synonym_group(self.analyzer, s.terms) for s in await list_synonyms(conn)]

    def analyse(self, content: Content) -> FieldTerms:
        terms = self.analyzer.terms
        return FieldTerms(
            title=terms(content.title),
            tags=[t for tag in content.tags for t in terms(tag)],
            summary=terms(content.summary),
            body=terms(content.body),
        )

    async def save_live(self, conn: Conn, versions: Sequence[Version], *, now: datetime) -> None:
        """Analyse published versions and store their terms (in the caller's transaction)."""
        if len(versions) > 20:
            analysed = await asyncio.to_thread(lambda: [self.analyse(v.content) for v in versions])
        else:
            analysed = [self.analyse(v.content) for v in versions]
        documents = [DocumentTerms(v.article_id, v.version, t) for v, t in zip(versions, analysed, strict=True)]
        await save_documents(conn, documents, analyzer=self.analyzer.fingerprint, now=now)

    async def repair(self, conn: Conn, *, now: datetime) -> int:
        """Re-analyse live versions whose stored terms are missing, outdated or from another analyser."""
        repaired = 0
        while True:
            stale = await stale_live_versions(conn, analyzer=self.analyzer.fingerprint, limit=REPAIR_BATCH)
            if not stale:
                break
            async with conn.transaction():
                await self.save_live(conn, stale, now=now)
            repaired += len(stale)
        if repaired:
            log.info("search index: re-analysed %d published versions", repaired)
        return repaired

    async def refresh(self, conn: Conn) -> int:
        """Apply stored changes newer than what this index has seen; return how many."""
        async with self._refresh_lock:
            pending: list[StoredDocument] = []
            revision = self.revision
            while documents := await documents_since(conn, revision):
                pending.extend(documents)
                revision = max(revision, *(d.revision for d in documents))
            latest = {d.article.article_id: d for d in pending}  # in revision order: the last state wins
            live = [d for d in latest.values() if d.live and d.analyzer == self.analyzer.fingerprint]
            for article_id, document in latest.items():
                if not (document.live and document.analyzer == self.analyzer.fingerprint):
                    self.index.remove(article_id)
                    self._display.pop(article_id, None)
            self.index.upsert_many([(d.article, d.terms) for d in live])
            for document in live:
                self._display[document.article.article_id] = self.display(document.article)
            self.revision = revision
            return len(pending)

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


async def load_tuning(conn: Conn) -> Tuning:
    return Tuning.from_rows({s.name: s.value for s in await list_settings(conn)})


class EngineHolder:
    """The engine a process serves from; swapped whole on a rebuild, None until the first load finishes."""

    def __init__(self) -> None:
        self.engine: SearchEngine | None = None
        self.rebuilding = asyncio.Lock()
        self._loaded = asyncio.Event()

    def get(self) -> SearchEngine | None:
        return self.engine

    def set(self, engine: SearchEngine) -> None:
        self.engine = engine
        self._loaded.set()

    async def wait(self) -> SearchEngine:
        """The engine, once the first load finished (consumers start before it)."""
        await self._loaded.wait()
        assert self.engine is not None
        return self.engine

"""The search engine of one knowledge process: analyser + in-memory BM25F index, kept consistent with PostgreSQL.

PostgreSQL is the truth: `search_document` holds the analysed terms of every live version with a revision from
one sequence. At start-up the engine re-analyses live versions whose terms are missing or from another
analyser, then loads every row; afterwards `refresh` applies rows with a newer revision (the writer calls it
right after its commit, and a background loop calls it every `index_poll_s`, so other instances follow).
What it answers and how is pure and lives in `domain/search.py` (`Searcher`); this module adds the I/O.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime

from services.knowledge.domain.analysis import Analyzer, SynonymGroup, synonym_group
from services.knowledge.domain.article import Version
from services.knowledge.domain.ranking import StoredDocument
from services.knowledge.domain.search import Searcher, Tuning, analyzer_for
from services.knowledge.repository.documents import (
    DocumentTerms,
    documents_since,
    save_documents,
    stale_live_versions,
)
from services.knowledge.repository.tuning import list_product_terms, list_settings, list_synonyms
from shared.db import Conn

log = logging.getLogger(__name__)

REPAIR_BATCH = 200


class SearchEngine(Searcher):
    """The searcher kept consistent with PostgreSQL: loaded at start-up, refreshed from stored revisions."""

    def __init__(self, analyzer: Analyzer, tuning: Tuning, synonyms: Sequence[SynonymGroup] = ()) -> None:
        super().__init__(analyzer, tuning, synonyms)
        self._refresh_lock = asyncio.Lock()

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
            self.apply(pending, revision=revision)
            return len(pending)


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

"""The in-memory search index: BM25F over four fields (title > tags > summary > body), filters, pagination.

Postings keep each term's document slots and per-field term frequencies as numpy arrays. BM25F (field-weighted,
length-normalised term frequency, one saturation per term) is computed per term once and kept as a score array
until the index changes, so a query adds a few precomputed arrays into one score vector and takes its top. A
replaced or removed article only flips its slot's `alive` bit; `dead_share()` tells the owner when a rebuild
from the database is due. Not thread-safe for writers: one event loop owns it.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

FIELDS: tuple[str, ...] = ("title", "tags", "summary", "body")
LANGUAGES: tuple[str, ...] = ("zh-Hans", "zh-Hant", "en")
VISIBILITIES: tuple[str, ...] = ("internal", "public")
MAX_TF = 65_535


@dataclass(frozen=True)
class FieldTerms:
    title: Sequence[str]
    tags: Sequence[str]
    summary: Sequence[str]
    body: Sequence[str]

    def of(self, name: str) -> Sequence[str]:
        terms: Sequence[str] = getattr(self, name)
        return terms


@dataclass(frozen=True)
class IndexedArticle:
    """What a search result shows; body is plain text for snippets (Markdown stripped, white space collapsed)."""

    article_id: uuid.UUID
    version: int
    title: str
    summary: str
    body_text: str
    language: str
    category: str
    tags: tuple[str, ...]
    channels: tuple[str, ...]
    """Empty: applies to every channel."""
    products: tuple[str, ...]
    """Empty: applies to every product."""
    visibility: str
    published_at: datetime | None


@dataclass(frozen=True)
class Ranking:
    boosts: dict[str, float] = field(
        default_factory=lambda: {"title": 5.0, "tags": 2.0, "summary": 1.5, "body": 1.0}
    )
    b: dict[str, float] = field(default_factory=lambda: {"title": 0.5, "tags": 0.3, "summary": 0.6, "body": 0.75})
    k1: float = 1.5


@dataclass(frozen=True)
class QueryTerm:
    term: str
    weight: float = 1.0


@dataclass(frozen=True)
class SearchFilter:
    visibilities: frozenset[str]
    """What the caller may see: internal and public for staff, public only for adapters."""
    languages: frozenset[str] | None = None
    category: str | None = None
    channel: str | None = None
    product: str | None = None


@dataclass(frozen=True)
class Hit:
    article: IndexedArticle
    score: float


@dataclass(frozen=True)
class Page:
    total: int
    hits: list[Hit]


class _Posting:
    """One term's documents: slots and per-field term frequencies; new blocks are joined on the next read."""

    __slots__ = ("_blocks", "slots", "tfs")

    def __init__(self) -> None:
        self.slots: npt.NDArray[np.int32] = np.empty(0, dtype=np.int32)
        self.tfs: npt.NDArray[np.uint16] = np.empty((len(FIELDS), 0), dtype=np.uint16)
        self._blocks: list[tuple[npt.NDArray[np.int32], npt.NDArray[np.uint16]]] = []

    def add(self, slots: npt.NDArray[np.int32], tfs: npt.NDArray[np.uint16]) -> None:
        if not len(self.slots) and not self._blocks:
            self.slots, self.tfs = slots, tfs
        else:
            self._blocks.append((slots, tfs))

    def arrays(self) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.uint16]]:
        if self._blocks:
            self.slots = np.concatenate([self.slots, *(s for s, _ in self._blocks)])
            self.tfs = np.concatenate([self.tfs, *(t for _, t in self._blocks)], axis=1)
            self._blocks.clear()
        return self.slots, self.tfs


class _Column:
    """A growable numpy column indexed by slot."""

    def __init__(self, dtype: type[np.generic], width: int = 0) -> None:
        self.dtype = dtype
        self.data: npt.NDArray[Any] = np.zeros(1024 if not width else (width, 1024), dtype=dtype)

    def ensure(self, size: int) -> None:
        capacity = self.data.shape[-1]
        if size <= capacity:
            return
        grown = max(size, capacity * 2)
        if self.data.ndim == 1:
            data = np.zeros(grown, dtype=self.dtype)
            data[:capacity] = self.data
        else:
            data = np.zeros((self.data.shape[0], grown), dtype=self.dtype)
            data[:, :capacity] = self.data
        self.data = data


TermScores = tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]
"""A term's live slots and its BM25F contribution to each (idf × saturated field-weighted tf)."""
CACHED_TERMS = 100_000
CACHED_MASKS = 256


class SearchIndex:
    """BM25F over numpy postings. What a query needs of a term (live slots, score contribution per slot) and of
    a filter (the allowed mask) is computed on first use and kept until the index changes: between publishes a
    lookup only gathers and adds precomputed arrays."""

    def __init__(self, ranking: Ranking | None = None) -> None:
        self.ranking = ranking or Ranking()
        self._postings: dict[str, _Posting] = {}
        self._articles: list[IndexedArticle | None] = []
        self._slot_of: dict[uuid.UUID, int] = {}
        self._alive = _Column(np.bool_)
        self._lengths = _Column(np.float32, width=len(FIELDS))
        self._length_sums = np.zeros(len(FIELDS), dtype=np.float64)
        self._language = _Column(np.int8)
        self._visibility = _Column(np.int8)
        self._facets: dict[tuple[str, str], set[int]] = {}
        self._norms: npt.NDArray[np.float32] | None = None
        self._term_scores: dict[str, TermScores | None] = {}
        self._masks: dict[SearchFilter, npt.NDArray[np.bool_]] = {}

    def __len__(self) -> int:
        return len(self._slot_of)

    def __contains__(self, article_id: object) -> bool:
        return article_id in self._slot_of

    def article(self, article_id: uuid.UUID) -> IndexedArticle | None:
        slot = self._slot_of.get(article_id)
        return None if slot is None else self._articles[slot]

    def dead_share(self) -> float:
        return 1.0 - len(self._slot_of) / len(self._articles) if self._articles else 0.0

    def _changed(self) -> None:
        self._norms = None
        self._term_scores.clear()
        self._masks.clear()

    def upsert(self, article: IndexedArticle, terms: FieldTerms) -> None:
        self.upsert_many([(article, terms)])

    def upsert_many(self, items: Sequence[tuple[IndexedArticle, FieldTerms]]) -> None:
        """Index (or replace) many articles at once: one pass over their terms, then numpy does the counting."""
        latest = {article.article_id: (article, terms) for article, terms in items}
        for article_id in latest:
            self.remove(article_id)
        if not latest:
            return
        base = len(self._articles)
        size = base + len(latest)
        for column in (self._alive, self._lengths, self._language, self._visibility):
            column.ensure(size)
        tokens: list[str] = []
        lengths = np.zeros((len(FIELDS), len(latest)), dtype=np.int64)
        for j, (article, terms) in enumerate(latest.values()):
            slot = base + j
            self._articles.append(article)
            self._slot_of[article.article_id] = slot
            self._language.data[slot] = LANGUAGES.index(article.language)
            self._visibility.data[slot] = VISIBILITIES.index(article.visibility)
            for i, name in enumerate(FIELDS):
                field_terms = terms.of(name)
                lengths[i, j] = len(field_terms)
                tokens.extend(field_terms)
            for key in self._facet_keys(article):
                self._facets.setdefault(key, set()).add(slot)
        self._alive.data[base:size] = True
        self._lengths.data[:, base:size] = lengths
        self._length_sums += lengths.sum(axis=1)
        self._changed()
        if not tokens:
            return
        names = list(dict.fromkeys(tokens))
        vocabulary = {term: n for n, term in enumerate(names)}
        term_ids = np.fromiter(map(vocabulary.__getitem__, tokens), dtype=np.int64, count=len(tokens))
        # One key per token: term, then slot, then field; counting equal keys gives the term frequencies.
        fields = len(FIELDS)
        slot_field = np.repeat(
            (np.arange(base, size, dtype=np.int64)[None, :] * fields + np.arange(fields)[:, None]).T.ravel(),
            lengths.T.ravel(),
        )
        keys, counts = np.unique(term_ids * (size * fields) + slot_field, return_counts=True)
        pairs = keys // fields  # term × size + slot
        starts = np.flatnonzero(np.r_[True, pairs[1:] != pairs[:-1]])
        pair_of_key = np.cumsum(np.r_[False, pairs[1:] != pairs[:-1]])
        tfs = np.zeros((fields, len(starts)), dtype=np.uint16)
        tfs[keys % fields, pair_of_key] = np.minimum(counts, MAX_TF)
        pair_terms = pairs[starts] // size
        pair_slots = (pairs[starts] % size).astype(np.int32)
        bounds = np.flatnonzero(np.r_[True, pair_terms[1:] != pair_terms[:-1], True])
        edges = bounds.tolist()
        for term_id, first, last in zip(pair_terms[bounds[:-1]].tolist(), edges[:-1], edges[1:], strict=True):
            term = names[term_id]
            posting = self._postings.get(term)
            if posting is None:
                posting = self._postings[term] = _Posting()
            posting.add(pair_slots[first:last], tfs[:, first:last])

    def remove(self, article_id: uuid.UUID) -> bool:
        slot = self._slot_of.pop(article_id, None)
        if slot is None:
            return False
        article = self._articles[slot]
        assert article is not None
        self._alive.data[slot] = False
        self._length_sums -= self._lengths.data[:, slot]
        for key in self._facet_keys(article):
            self._facets[key].discard(slot)
        self._articles[slot] = None
        self._changed()
        return True

    @staticmethod
    def _facet_keys(article: IndexedArticle) -> list[tuple[str, str]]:
        keys = [("category", article.category.casefold())]
        keys += [("channel", c) for c in article.channels] or [("channel", "*")]
        keys += [("product", p.casefold()) for p in article.products] or [("product", "*")]
        return keys

    def document_frequency(self, term: str) -> int:
        scored = self._scores_of(term)
        return 0 if scored is None else len(scored[0])

    def _field_norms(self) -> npt.NDArray[np.float32]:
        """Per field and slot: boost / (1 - b + b * length / average length)."""
        if self._norms is None:
            size = len(self._articles)
            alive = max(len(self._slot_of), 1)
            norms = np.zeros((len(FIELDS), size), dtype=np.float32)
            for i, name in enumerate(FIELDS):
                average = max(self._length_sums[i] / alive, 1e-9)
                b = self.ranking.b[name]
                norms[i] = self.ranking.boosts[name] / (1.0 - b + b * self._lengths.data[i, :size] / average)
            self._norms = norms
        return self._norms

    def _scores_of(self, term: str) -> TermScores | None:
        """The term's live slots and BM25F contribution per slot; None when no live article has it."""
        if term in self._term_scores:
            return self._term_scores[term]
        posting = self._postings.get(term)
        scored: TermScores | None = None
        if posting is not None:
            slots, tfs = posting.arrays()
            live = self._alive.data[slots]
            if not live.all():
                slots, tfs = slots[live], tfs[:, live]
            df = len(slots)
            if df:
                n = len(self._slot_of)
                idf = math.log(1.0 + (n - df + 0.5) / (df + 0.5))
                k1 = self.ranking.k1
                tf = np.einsum("fs,fs->s", tfs.astype(np.float32), self._field_norms()[:, slots])
                scored = (slots, (np.float32(idf * (k1 + 1.0)) * tf / (np.float32(k1) + tf)).astype(np.float32))
        if len(self._term_scores) >= CACHED_TERMS:
            self._term_scores.clear()
        self._term_scores[term] = scored
        return scored

    def allowed(self, search_filter: SearchFilter) -> npt.NDArray[np.bool_]:
        """The slots `search_filter` lets through (alive, visible, language, facets); shared, do not modify."""
        mask = self._masks.get(search_filter)
        if mask is None:
            if len(self._masks) >= CACHED_MASKS:
                self._masks.clear()
            mask = self._masks[search_filter] = self._allowed(search_filter)
        return mask

    def _allowed(self, search_filter: SearchFilter) -> npt.NDArray[np.bool_]:
        size = len(self._articles)
        mask = self._alive.data[:size].copy()
        visible = np.zeros(size, dtype=np.bool_)
        for visibility in search_filter.visibilities:
            visible |= self._visibility.data[:size] == VISIBILITIES.index(visibility)
        mask &= visible
        if search_filter.languages is not None:
            spoken = np.zeros(size, dtype=np.bool_)
            for language in search_filter.languages:
                spoken |= self._language.data[:size] == LANGUAGES.index(language)
            mask &= spoken
        for name, value, wildcard in (
            ("category", search_filter.category, False),
            ("channel", search_filter.channel, True),
            ("product", search_filter.product, True),
        ):
            if value is None:
                continue
            keep = np.zeros(size, dtype=np.bool_)
            slots = self._facets.get((name, value.casefold() if name != "channel" else value), set())
            if wildcard:
                slots = slots | self._facets.get((name, "*"), set())
            if slots:
                keep[np.fromiter(slots, dtype=np.int64, count=len(slots))] = True
            mask &= keep
        return mask

    def scores(self, query: Sequence[QueryTerm], mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.float32]:
        """BM25F score of every slot (0 where nothing matched or `mask` is false)."""
        scores = np.zeros(len(self._articles), dtype=np.float32)
        weights: dict[str, float] = {}
        for q in query:
            weights[q.term] = weights.get(q.term, 0.0) + q.weight
        for term, weight in weights.items():
            scored = self._scores_of(term)
            if scored is None:
                continue
            slots, contribution = scored
            scores[slots] += contribution if weight == 1.0 else contribution * np.float32(weight)
        scores *= mask
        return scores

    def search(
        self,
        query: Sequence[QueryTerm],
        search_filter: SearchFilter,
        *,
        limit: int = 10,
        offset: int = 0,
        prefer_category: str | None = None,
        category_factor: float = 1.0,
    ) -> Page:
        scores = self.scores(query, self.allowed(search_filter))
        if prefer_category is not None and category_factor != 1.0:
            preferred = self._facets.get(("category", prefer_category.casefold()), set())
            if preferred:
                idx = np.fromiter(preferred, dtype=np.int64, count=len(preferred))
                scores[idx] *= np.float32(category_factor)
        matched = np.flatnonzero(scores > 0)
        total = len(matched)
        want = offset + limit
        if total == 0 or offset >= total or limit <= 0:
            return Page(total=total, hits=[])
        top = matched[np.argpartition(-scores[matched], want - 1)[:want]] if total > want else matched
        # Highest score first; equal scores in slot order (older versions first) so pages are stable.
        order = top[np.lexsort((top, -scores[top]))][offset:want]
        hits = []
        for slot in order.tolist():
            article = self._articles[slot]
            assert article is not None
            hits.append(Hit(article=article, score=float(scores[slot])))
        return Page(total=total, hits=hits)


@dataclass(frozen=True)
class StoredDocument:
    """A search_document row with its version's display fields: what the index loads."""

    article: IndexedArticle
    terms: FieldTerms
    live: bool
    revision: int
    analyzer: str

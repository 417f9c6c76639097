"""Text analysis shared by indexing and querying: one function turns text into search terms.

Chinese: folded as every service folds text (`shared.text.fold`: Traditional as Simplified with mainland wording,
OpenCC tw2sp: 帳戶 → 账户, 軟體 → 软件) so either script finds the other, then jieba's search
mode (words plus the dictionary words inside long words) with a custom dictionary of product terms. English
and other Latin text: Unicode NFKC, case folding, stop words, Snowball stemming. Punctuation is dropped.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import jieba
import Stemmer

from shared.text import fold, fold_script

ANALYZER_VERSION = "4"
"""Bump when analysis changes in a way that needs stored terms re-analysed."""

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff"
_RUN = re.compile(rf"([{_CJK}]+)|([^\W_{_CJK}]+(?:['’][^\W\d_{_CJK}]+)?)", re.UNICODE)
_CJK_CHAR = re.compile(rf"[{_CJK}]")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


ENGLISH_STOP_WORDS = _words(
    """a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have having
    he her here hers herself him himself his how i if in into is it its itself just me more most my myself no
    nor not now of off on once only or other our ours ourselves out over own same she should so some such than
    that the their theirs them themselves then there these they this those through to too under until up very
    was we were what when where which while who whom why will with would you your yours yourself yourselves
    s t d ll m re ve"""
)
"""The common English function words (the Snowball list without negations' contractions)."""

CHINESE_STOP_WORDS = _words(
    """的 了 是 在 和 与 及 或 也 都 就 而 并 之 其 这 那 这个 那个 这些 那些 吗 呢 吧 啊 呀 哦 嗯 么 着 过 被 把
    将 对 于 为 以 由 从 向 给 让 个 们 我 你 他 她 它 我们 你们 他们 请 请问 一下 一个 什么 怎么 怎样 如何 哪 哪个
    哪些 哪里 为什么 是否 有没有 能否 可以 能 会 要 想 有 没有 还 又 很 更 最 该"""
)
"""Function words and question words: they carry no topic, and questions are full of them."""


class Analyzer:
    """Thread-safe once built; building loads jieba's dictionary (about a second)."""

    def __init__(self, product_terms: Iterable[str] = ()) -> None:
        self._stemmer = Stemmer.Stemmer("english")
        self._lock = threading.Lock()
        jieba.setLogLevel(logging.WARNING)
        self._jieba = jieba.Tokenizer()
        self._jieba.initialize()
        self.product_terms: tuple[str, ...] = tuple(sorted({self.fold(t).strip() for t in product_terms} - {""}))
        for term in self.product_terms:
            if _CJK_CHAR.search(term):
                self._jieba.add_word(term, freq=None)
        self._stem = lru_cache(maxsize=200_000)(self._stemmer.stemWord)
        self.fingerprint = hashlib.sha256("\n".join((ANALYZER_VERSION, *self.product_terms)).encode()).hexdigest()[
            :16
        ]
        """Changes when analysis or the dictionary changes: stored terms with another one are stale."""

    @staticmethod
    def fold(text: str) -> str:
        """The one fold of `shared.text`: NFKC, punctuation, Traditional as Simplified, case."""
        return fold(text)

    @staticmethod
    def fold_for_highlight(text: str) -> str:
        """The fold without NFKC and case folding, which keeps the length of nearly every text."""
        return fold_script(text).lower()

    def terms(self, text: str) -> list[str]:
        """The search terms of `text`, in order, repeats kept (term frequency matters)."""
        out: list[str] = []
        for match in _RUN.finditer(self.fold(text)):
            cjk, word = match.group(1), match.group(2)
            if cjk:
                out.extend(self._chinese(cjk))
            elif word:
                term = self._english(word)
                if term:
                    out.append(term)
        return out

    def _chinese(self, run: str) -> list[str]:
        with self._lock:  # jieba's lazy dictionary structures are not safe to share mid-update
            words = list(self._jieba.cut_for_search(run, HMM=True))
        return [w for w in words if w not in CHINESE_STOP_WORDS and not w.isspace()]

    def _english(self, word: str) -> str | None:
        word = word.replace("’", "'")
        if "'" in word:
            word = word.split("'", 1)[0]
        if word in ENGLISH_STOP_WORDS or not word:
            return None
        if any(c.isdigit() for c in word):
            return word
        return str(self._stem(word))


def surface_forms(terms: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """How analysed terms appear in folded text: Chinese terms as themselves (literals), English stems as the
    start of the words they came from (prefixes). Each longest first."""
    unique = sorted(set(terms), key=lambda t: (-len(t), t))
    return tuple(t for t in unique if _CJK_CHAR.search(t)), tuple(t for t in unique if not _CJK_CHAR.search(t))


def query_key(analyzer: Analyzer, query: str) -> str:
    """What identifies a query for the gaps report: its folded text with runs of space collapsed."""
    return " ".join(analyzer.fold(query).split())


@dataclass(frozen=True)
class SynonymGroup:
    """Members are analysed term sequences; a query containing all terms of one member gets the others."""

    members: tuple[tuple[str, ...], ...]


def synonym_group(analyzer: Analyzer, words: Iterable[str]) -> SynonymGroup:
    members = tuple(dict.fromkeys(tuple(analyzer.terms(w)) for w in words if analyzer.terms(w)))
    return SynonymGroup(members=members)


def expand(terms: Sequence[str], groups: Sequence[SynonymGroup], weight: float) -> list[tuple[str, float]]:
    """The query's own terms at weight 1, and each synonym's terms not already there at `weight`."""
    own = dict.fromkeys(terms)
    out = [(t, 1.0) for t in terms]
    added: set[str] = set()
    present = set(terms)
    for group in groups:
        if not any(member and set(member) <= present for member in group.members):
            continue
        for member in group.members:
            for term in member:
                if term not in own and term not in added:
                    added.add(term)
                    out.append((term, weight))
    return out

"""Contact search terms: what a contact is found by in either Chinese script and in English.

Text is folded as everywhere (`shared.text.fold`: width, case, Traditional as Simplified), then Chinese runs
become their single characters and overlapping pairs (宽带断了 → 宽 带 断 了 宽带 带断 断了), which finds any
word without a dictionary, and other text its words. A query becomes the same terms, all of which must match:
its pairs for Chinese (a single character only when the query is one), its words otherwise.
"""

from __future__ import annotations

import re

from shared.text import fold

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUNS = re.compile(rf"([{_CJK}]+)|([^\W_{_CJK}]+)")
MAX_TERMS = 4000
"""Terms kept per contact (the first messages' worth): enough to find it, bounded for the index."""


def terms(text: str) -> list[str]:
    """Index terms of a text, each once, in first-seen order."""
    out: dict[str, None] = {}
    for match in _RUNS.finditer(fold(text)):
        run, word = match.group(1), match.group(2)
        if run:
            out.update(dict.fromkeys(run))
            out.update(dict.fromkeys(run[i : i + 2] for i in range(len(run) - 1)))
        elif word and len(word) <= 40:
            out[word] = None
        if len(out) >= MAX_TERMS:
            break
    return list(out)[:MAX_TERMS]


def query_terms(query: str) -> list[str]:
    """The terms a contact must have to match `query` (all of them)."""
    out: dict[str, None] = {}
    for match in _RUNS.finditer(fold(query)):
        run, word = match.group(1), match.group(2)
        if run and len(run) == 1:
            out[run] = None
        elif run:
            out.update(dict.fromkeys(run[i : i + 2] for i in range(len(run) - 1)))
        elif word:
            out[word[:40]] = None
    return list(out)[:32]

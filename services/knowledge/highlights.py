"""Highlights: the title with matches marked, and the best window of the body around the query's terms.

Matching works on folded text (the analyser's NFKC, Traditional-to-Simplified and lower-casing keep length for
nearly all text), so a Traditional article lights up for a Simplified query; the marks go on the original.
Output is HTML-escaped text with `<mark>` around matches.
"""

from __future__ import annotations

import bisect
import html
import re
from collections.abc import Callable, Sequence

from services.knowledge.analysis import highlight_patterns

SNIPPET_CHARS = 160


def compile_matcher(terms: Sequence[str]) -> re.Pattern[str] | None:
    patterns = highlight_patterns(terms)
    return re.compile("|".join(patterns)) if patterns else None


def _spans(text: str, matcher: re.Pattern[str], fold: Callable[[str], str]) -> list[tuple[int, int]]:
    folded = fold(text)
    if len(folded) != len(text):
        # Rare (a character whose folding changes length): fold character by character to keep offsets.
        folded = "".join(f if len(f := fold(c)) == 1 else c for c in text)
    return [(m.start(), m.end()) for m in matcher.finditer(folded) if m.end() > m.start()]


def _mark(text: str, spans: Sequence[tuple[int, int]], start: int, end: int) -> str:
    out: list[str] = []
    at = start
    for s, e in spans:
        if e <= start or s >= end:
            continue
        s, e = max(s, start), min(e, end)
        out.append(html.escape(text[at:s]))
        out.append(f"<mark>{html.escape(text[s:e])}</mark>")
        at = e
    out.append(html.escape(text[at:end]))
    return "".join(out)


def mark_all(text: str, matcher: re.Pattern[str] | None, fold: Callable[[str], str]) -> str:
    if matcher is None:
        return html.escape(text)
    return _mark(text, _spans(text, matcher, fold), 0, len(text))


def snippet(
    text: str, matcher: re.Pattern[str] | None, fold: Callable[[str], str], *, size: int = SNIPPET_CHARS
) -> str:
    """The window of about `size` characters holding the most matches, with ellipses where cut."""
    text = " ".join(text.split())
    spans = _spans(text, matcher, fold) if matcher is not None else []
    if not spans:
        return html.escape(text[:size]) + ("…" if len(text) > size else "")
    starts = [s for s, _ in spans]
    best_start, best_count = starts[0], 0
    for i, s in enumerate(starts):
        count = bisect.bisect_right(starts, s + size - 1) - i
        if count > best_count:
            best_start, best_count = s, count
    start = max(0, best_start - size // 4)
    end = min(len(text), start + size)
    start = max(0, min(start, end - size))
    body = _mark(text, spans, start, end)
    return ("…" if start > 0 else "") + body + ("…" if end < len(text) else "")

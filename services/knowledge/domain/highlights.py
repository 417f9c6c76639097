"""Highlights: the title with matches marked, and the best window of the body around the query's terms.

Matching works on folded text (the analyser's Traditional-to-Simplified and lower-casing), so a Traditional
article lights up for a Simplified query; the marks go on the original. Offsets in the fold must be offsets in
the original, so `align` keeps the fold's length: the whole text at once when that keeps it (nearly always),
otherwise piece by piece between punctuation and spaces, and character by character only inside a piece whose
fold changes length (OpenCC's phrases: 帛琉 → 帕劳 keeps it, 那杜 → 温纳图万 does not). The engine aligns every
article once when it indexes it, so a search only runs the matcher. Output is HTML-escaped text with `<mark>`
around matches.
"""

from __future__ import annotations

import bisect
import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from services.knowledge.domain.analysis import surface_forms

SNIPPET_CHARS = 160
_PIECES = re.compile(r"[^\s\W]+|[\s\W]+")
"""Runs of word characters (a Chinese clause, a Latin word) and runs of everything else."""


@dataclass(frozen=True, slots=True)
class Aligned:
    """A text and its fold for matching, of the same length (a match's offsets are offsets in `text`)."""

    text: str
    folded: str


def align(text: str, fold: Callable[[str], str]) -> Aligned:
    folded = fold(text)
    if len(folded) != len(text):
        folded = "".join(_fold_piece(m.group(), fold) for m in _PIECES.finditer(text))
    return Aligned(text, text if folded == text else folded)


def _fold_piece(piece: str, fold: Callable[[str], str]) -> str:
    folded = fold(piece)
    if len(folded) == len(piece):
        return folded
    return "".join(f if len(f := fold(c)) == 1 else c for c in piece)


def flat(text: str) -> str:
    """Runs of white space as one space: what a snippet shows."""
    return " ".join(text.split())


@dataclass(frozen=True, slots=True)
class Matcher:
    """Finds a query's terms in folded text with `str.find`: Chinese terms as themselves, English stems at the
    start of a word, each match running to the end of that word. The spans are what one regular-expression
    scan for the longest term at each position would give (leftmost, longest, never overlapping), at a
    fraction of its cost: an alternation of many terms is tried at every position of the text."""

    literals: tuple[str, ...]
    stems: tuple[str, ...]

    def spans(self, folded: str) -> list[tuple[int, int]]:
        found: list[tuple[int, int]] = []  # (start, -end): a plain sort puts the longest first at each start
        append = found.append
        find = folded.find
        for term in self.literals:
            size = len(term)
            at = find(term)
            while at != -1:
                append((at, -at - size))
                at = find(term, at + 1)
        for stem in self.stems:
            at = find(stem)
            while at != -1:
                if not at or not _is_word(folded[at - 1]):
                    append((at, -_word_end(folded, at + len(stem))))
                at = find(stem, at + 1)
        found.sort()
        spans: list[tuple[int, int]] = []
        end = 0
        for start, negative_end in found:
            if start >= end:
                end = -negative_end
                spans.append((start, end))
        return spans

    def search(self, folded: str) -> bool:
        if any(term in folded for term in self.literals):
            return True
        for stem in self.stems:
            at = folded.find(stem)
            while at != -1:
                if not at or not _is_word(folded[at - 1]):
                    return True
                at = folded.find(stem, at + 1)
        return False


_WORD_REST = re.compile(r"\w*")


def _word_end(text: str, at: int) -> int:
    match = _WORD_REST.match(text, at)
    return match.end() if match else at


def _is_word(char: str) -> bool:
    """What `\\w` matches."""
    return char.isalnum() or char == "_"


def compile_matcher(terms: Sequence[str]) -> Matcher | None:
    literals, stems = surface_forms([t for t in terms if t])
    if not literals and not stems:
        return None
    return Matcher(literals, stems)


def matches(matcher: Matcher | None, aligned: Aligned) -> bool:
    return matcher is not None and bool(aligned.folded) and matcher.search(aligned.folded)


def _spans(aligned: Aligned, matcher: Matcher) -> list[tuple[int, int]]:
    return matcher.spans(aligned.folded)


_OPEN, _CLOSE = "\ue000", "\ue001"
"""Private-use characters standing for the marks while the text is escaped in one call."""


def _mark(text: str, spans: Sequence[tuple[int, int]], start: int, end: int) -> str:
    window = text[start:end]
    if _OPEN in window or _CLOSE in window:  # never in real text; escape piece by piece then
        return _mark_pieces(text, spans, start, end)
    out: list[str] = []
    at = start
    for s, e in spans:
        if e <= start or s >= end:
            continue
        s, e = max(s, start), min(e, end)
        out += (text[at:s], _OPEN, text[s:e], _CLOSE)
        at = e
    out.append(text[at:end])
    return html.escape("".join(out)).replace(_OPEN, "<mark>").replace(_CLOSE, "</mark>")


def _mark_pieces(text: str, spans: Sequence[tuple[int, int]], start: int, end: int) -> str:
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


def mark_aligned(aligned: Aligned, matcher: Matcher | None) -> str:
    if matcher is None:
        return html.escape(aligned.text)
    return _mark(aligned.text, _spans(aligned, matcher), 0, len(aligned.text))


def snippet_aligned(aligned: Aligned, matcher: Matcher | None, *, size: int = SNIPPET_CHARS) -> str:
    """The window of about `size` characters of a flat text holding the most matches, with ellipses where cut."""
    text = aligned.text
    spans = _spans(aligned, matcher) if matcher is not None else []
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


def mark_all(text: str, matcher: Matcher | None, fold: Callable[[str], str]) -> str:
    return mark_aligned(align(text, fold), matcher)


def snippet(text: str, matcher: Matcher | None, fold: Callable[[str], str], *, size: int = SNIPPET_CHARS) -> str:
    return snippet_aligned(align(flat(text), fold), matcher, size=size)

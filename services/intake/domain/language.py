"""The language of a text: zh-Hans or zh-Hant by the characters used (OpenCC's tables, `shared.text`), ja, ko,
ru, en and a few other Latin-script languages by common words."""

from __future__ import annotations

import re

from shared.text import chinese_script

_STOPWORDS = {
    "en": frozenset(
        [
            "the",
            "and",
            "to",
            "of",
            "a",
            "i",
            "is",
            "in",
            "it",
            "you",
            "that",
            "for",
            "my",
            "on",
            "this",
            "have",
            "be",
            "with",
            "not",
            "was",
            "are",
            "your",
            "me",
            "please",
            "can",
            "we",
            "do",
            "at",
            "but",
            "from",
            "as",
            "our",
            "will",
            "there",
            "has",
            "order",
            "thanks",
            "thank",
            "hi",
            "hello",
            "dear",
        ]
    ),
    "es": frozenset(
        [
            "el",
            "la",
            "de",
            "que",
            "y",
            "en",
            "los",
            "se",
            "del",
            "las",
            "por",
            "un",
            "una",
            "para",
            "con",
            "no",
            "es",
            "su",
            "al",
            "lo",
            "como",
            "más",
            "pero",
        ]
    ),
    "fr": frozenset(
        [
            "le",
            "la",
            "les",
            "de",
            "des",
            "et",
            "est",
            "un",
            "une",
            "pour",
            "que",
            "qui",
            "dans",
            "en",
            "pas",
            "je",
            "vous",
            "nous",
            "avec",
            "sur",
            "au",
        ]
    ),
    "de": frozenset(
        [
            "der",
            "die",
            "das",
            "und",
            "ist",
            "nicht",
            "ich",
            "sie",
            "es",
            "ein",
            "eine",
            "zu",
            "mit",
            "den",
            "von",
            "für",
            "auf",
            "auch",
            "wir",
        ]
    ),
    "pt": frozenset(
        [
            "o",
            "a",
            "de",
            "que",
            "e",
            "do",
            "da",
            "em",
            "um",
            "uma",
            "para",
            "com",
            "não",
            "os",
            "as",
            "se",
            "por",
            "mais",
            "na",
            "no",
        ]
    ),
    "it": frozenset(
        [
            "il",
            "di",
            "che",
            "e",
            "la",
            "per",
            "un",
            "una",
            "non",
            "è",
            "sono",
            "con",
            "del",
            "della",
            "le",
            "si",
            "mi",
            "ho",
        ]
    ),
    "pl": frozenset(
        ["i", "w", "nie", "na", "się", "z", "że", "do", "to", "jest", "jak", "ale", "o", "co", "od", "po"]
    ),
}
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def detect_language(text: str) -> str | None:
    """BCP 47 tag of the main language: zh-Hans / zh-Hant by the characters used, ja, ko, ru, en and a few
    other Latin-script languages by common words; None for text with too little to tell."""
    counts = {"han": 0, "kana": 0, "hangul": 0, "cyrillic": 0, "latin": 0, "greek": 0, "arabic": 0, "thai": 0}
    for ch in text:
        code = ord(ch)
        if 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF:
            counts["han"] += 1
        elif 0x3040 <= code <= 0x30FF:
            counts["kana"] += 1
        elif 0xAC00 <= code <= 0xD7AF or 0x1100 <= code <= 0x11FF:
            counts["hangul"] += 1
        elif 0x0400 <= code <= 0x04FF:
            counts["cyrillic"] += 1
        elif 0x0370 <= code <= 0x03FF:
            counts["greek"] += 1
        elif 0x0600 <= code <= 0x06FF:
            counts["arabic"] += 1
        elif 0x0E00 <= code <= 0x0E7F:
            counts["thai"] += 1
        elif ch.isalpha() and code < 0x250:
            counts["latin"] += 1
    cjk = counts["han"] + counts["kana"] + counts["hangul"]
    # A CJK character carries about as much as a short word: weigh it against Latin letters accordingly.
    if cjk and cjk * 3 >= counts["latin"] + counts["cyrillic"]:
        if counts["kana"] and counts["kana"] * 10 >= counts["han"] + counts["kana"]:
            return "ja"
        if counts["hangul"] > counts["han"]:
            return "ko"
        if counts["han"]:
            return chinese_script(text) or "zh-Hans"
    script = max(("cyrillic", "greek", "arabic", "thai", "latin"), key=lambda k: counts[k])
    if counts[script] < 2:
        return None
    if script != "latin":
        return {"cyrillic": "ru", "greek": "el", "arabic": "ar", "thai": "th"}[script]
    words = [w.casefold() for w in _WORD.findall(text)]
    if not words:
        return None
    scores = {lang: sum(1 for w in words if w in stop) for lang, stop in _STOPWORDS.items()}
    best = max(scores, key=lambda k: (scores[k], k == "en"))
    if scores[best] == 0:
        return "en" if len(words) <= 3 else None
    return best

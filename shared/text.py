"""Text as rules, threading and search see it: one normalisation for Chinese in either script and for Latin text.

`fold` is what everything matches on: Unicode NFKC (full-width letters, digits and punctuation become
half-width), Chinese punctuation as its ASCII counterpart, Chinese in either script as mainland Simplified with
OpenCC's phrase tables (帳號被盜 → 账号被盗, 個資外洩 → 个资外泄, 軟體 → 软件), the Simplified variants people
use for one another (帐 → 账), and case folding. The Chinese step is symmetric: text goes to Traditional first
(s2t) and from there to mainland Simplified with Taiwan's wording replaced (tw2sp), so 个人资料 and 個人資料 fold
alike (个人数据) — tw2sp alone would change only the Traditional one. Intake's classification rules and e-mail
subject keys and knowledge's analyser all fold with it, so a keyword written once in Simplified finds the same
sentence in Traditional, and a query in one script finds articles in the other.

`fold_script` is the Chinese part only, for text whose ASCII must stay as it is (regular expressions: case
folding would turn `\\D` into `\\d`) or whose length should stay (highlight offsets).
"""

from __future__ import annotations

import functools
import threading
import unicodedata

import opencc

SIMPLIFIED_VARIANTS: tuple[tuple[str, str], ...] = (("帐", "账"),)
"""Simplified characters OpenCC leaves apart that people treat as one (帳戶 → 帐户, but people write 账户)."""

_PUNCTUATION = str.maketrans(
    {
        "。": ".",
        "、": ",",
        "「": '"',
        "」": '"',
        "『": '"',
        "』": '"',
        "【": "[",
        "】": "]",
        "〔": "[",
        "〕": "]",
        "《": "<",
        "》": ">",
        "〈": "<",
        "〉": ">",
        "・": "·",
        "‘": "'",
        "’": "'",
        "“": '"',
        "”": '"',
        "—": "-",
        "–": "-",
        "～": "~",
        "〜": "~",
    }
)
"""Chinese and typographic punctuation NFKC leaves alone, each as one ASCII character (lengths are kept)."""

_local = threading.local()


def _converter(config: str) -> opencc.OpenCC:
    """One converter per thread and configuration (loading one reads its dictionaries, about 10 ms)."""
    converters: dict[str, opencc.OpenCC] | None = getattr(_local, "converters", None)
    if converters is None:
        converters = _local.converters = {}
    if config not in converters:
        converters[config] = opencc.OpenCC(config)
    return converters[config]


def fold_script(text: str) -> str:
    """Chinese in either script as mainland Simplified (characters and phrases), the Simplified variants unified;
    everything else untouched."""
    if text.isascii():
        return text
    folded = str(_converter("tw2sp").convert(_converter("s2t").convert(text)))
    for variant, standard in SIMPLIFIED_VARIANTS:
        folded = folded.replace(variant, standard)
    return folded


def fold(text: str) -> str:
    """NFKC, Chinese punctuation as ASCII, Traditional as Simplified, case-folded: the form every match uses."""
    text = unicodedata.normalize("NFKC", text)
    if text.isascii():
        return text.casefold()
    return fold_script(text.translate(_PUNCTUATION)).casefold()


def chinese_script(text: str) -> str | None:
    """`zh-Hant` or `zh-Hans` by which script's own characters are the more numerous (characters both scripts
    share count for neither); None when the text has no character that tells."""
    han = "".join(sorted({ch for ch in text if _is_han(ch)}))
    if not han:
        return None
    hant = _changed(han, "t2s")
    hans = _changed(han, "s2t")
    if hant == hans == 0:
        return None
    return "zh-Hant" if hant > hans else "zh-Hans"


@functools.lru_cache(maxsize=8192)
def _changed_one(ch: str, config: str) -> bool:
    return str(_converter(config).convert(ch)) != ch


def _changed(chars: str, config: str) -> int:
    """How many of `chars` (distinct Han characters) the conversion changes, each converted on its own."""
    return sum(_changed_one(ch, config) for ch in chars)


def _is_han(ch: str) -> bool:
    code = ord(ch)
    return (
        0x4E00 <= code <= 0x9FFF
        or 0x3400 <= code <= 0x4DBF
        or 0xF900 <= code <= 0xFAFF
        or 0x20000 <= code <= 0x3134F
    )

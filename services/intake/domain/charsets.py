"""Text from bytes whatever mail clients did to them: charset aliases, detection, RFC 2047 encoded words.

Labels are read the way mail clients read them, not literally: `gb2312` is decoded as GB18030 (its superset,
what senders really write), `big5` as CP950 then Big5-HKSCS, `ks_c_5601-1987` as CP949, Latin-1 as CP1252.
Bytes with no usable label are detected: UTF-8 first, then GB18030 or Big5 by which yields common Chinese
characters, then a general detector (charset-normalizer) for other scripts — Cyrillic, Greek, Japanese… —
then CP1252, which decodes anything.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
from dataclasses import dataclass

import charset_normalizer

_ALIASES = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "ms936": "gb18030",
    "euc-cn": "gb18030",
    "x-euc-cn": "gb18030",
    "csgb2312": "gb18030",
    "chinese": "gb18030",
    "gb_2312-80": "gb18030",
    "big5": "cp950",
    "x-big5": "cp950",
    "big-5": "cp950",
    "cn-big5": "cp950",
    "csbig5": "cp950",
    "big5-hkscs": "big5hkscs",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "euc-kr": "cp949",
    "ksc5601": "cp949",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "windows-31j": "cp932",
    "euc-jp": "euc_jis_2004",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "ansi_x3.4-1968": "cp1252",
    "x-mac-cyrillic": "mac_cyrillic",
    "utf8": "utf-8",
    "unicode-1-1-utf-7": "utf-7",
}
_NOT_CHARSETS = frozenset({"undefined", "idna", "punycode", "unicode-escape", "raw-unicode-escape", "mbcs"})
"""Text codecs Python has that are no charset a mail could be written in (they fail or read escapes as text)."""
_FALLBACKS = {"cp950": ("big5hkscs",), "cp932": ("shift_jis_2004",)}
_CHINESE = ("gb18030", "cp950", "big5hkscs")


class UnknownCharset(ValueError):
    """A label no codec knows, on bytes that no charset we detect decodes cleanly."""


def codec_for(label: str | None) -> str | None:
    """The Python codec to read `label` with, or None when the label names nothing we know or names a codec that
    does not turn bytes into text (`base64`, `zlib`, `rot13`: Python knows them, mail must not pick them)."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    name = _ALIASES.get(name, name)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):  # ValueError: a label with a NUL character in it
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_CHARSETS:
        return None
    return info.name


def decode_bytes(data: bytes, label: str | None = None, *, hints: tuple[str, ...] = ()) -> str:
    """Decode `data` labelled `label` (may be wrong or missing); `hints` are other charsets the message uses."""
    return read_bytes(data, label, hints=hints)[0]


def read_bytes(data: bytes, label: str | None = None, *, hints: tuple[str, ...] = ()) -> tuple[str, str | None]:
    """`decode_bytes`, and the codec that read the bytes (None for ASCII)."""
    codec = codec_for(label)
    if b"\x1b$" in data and (codec is None or codec.startswith("iso2022")):
        return decode_iso2022_jp(data), "iso2022_jp"
    if codec == "utf-7":
        return data.decode("utf-7", errors="replace"), codec
    if data.isascii():
        return data.decode("ascii"), None
    if _is_utf8(data):
        # Valid multi-byte UTF-8 is almost never an accident, whatever the label says (mislabelled mail is common).
        return data.decode("utf-8"), "utf-8"
    if codec is None or codec == "utf-8":
        return _detect(data, hints)
    if codec.startswith("iso2022_jp"):
        return decode_iso2022_jp(data), codec
    if codec == "cp1252":
        # Chinese mail labelled Latin-1 exists; only a strongly Chinese reading overrides the label (a short one
        # only when the message's other text is Chinese).
        short = 2 if _first_chinese(hints) else 4
        chinese = _best_chinese(data, hints, threshold=0.9, min_chars=short)
        return chinese if chinese is not None else (_cp1252(data), "cp1252")
    for name in (codec, *_FALLBACKS.get(codec, ())):
        try:
            text = data.decode(name)
        except UnicodeDecodeError:
            continue
        return _other_chinese(data, codec, text) or (text, name)
    return _other_chinese(data, codec, "") or (data.decode(codec, errors="replace"), codec)


_SAMPLE_CHARS = 500
"""How much of a text its Chinese score is taken over when a label is checked (scoring all of it costs)."""


def _other_chinese(data: bytes, codec: str, labelled: str) -> tuple[str, str] | None:
    """GBK labelled Big5, or Big5 labelled GB2312: the other family's reading when it is common Chinese and
    clearly more so than the label's reading (`labelled`, empty if the label did not decode), which then reads
    as rare characters."""
    if codec not in _CHINESE:
        return None
    score = chinese_score(labelled[:_SAMPLE_CHARS])
    if score >= 0.75:
        return None
    for other in ("cp950", "big5hkscs") if codec == "gb18030" else ("gb18030",):
        try:
            text = data.decode(other)
        except UnicodeDecodeError:
            continue
        sample = text[:_SAMPLE_CHARS]
        better = chinese_score(sample)
        enough = sum(1 for ch in sample if 0x4E00 <= ord(ch) <= 0x9FFF) >= 3
        if enough and better >= 0.9 and better - score >= 0.25:
            return text, other
    return None


def decode_declared(data: bytes, label: str | None, *, hints: tuple[str, ...] = ()) -> str:
    """Like `decode_bytes`, but an unknown label on bytes nothing decodes cleanly is an error, not a guess."""
    return read_declared(data, label, hints=hints)[0]


def read_declared(data: bytes, label: str | None, *, hints: tuple[str, ...] = ()) -> tuple[str, str | None]:
    """`decode_declared`, and the codec that read the bytes (None for ASCII)."""
    unknown = bool(label) and codec_for(label) is None
    if (
        unknown
        and not data.isascii()
        and not _is_utf8(data)
        and _best_chinese(data, hints) is None
        and _other_script(data) is None
    ):
        try:
            data.decode("cp1252")
        except UnicodeDecodeError as exc:
            raise UnknownCharset(
                f"unknown charset {label!r}, and the bytes are not UTF-8, GB18030, Big5 or CP1252"
            ) from exc
    return read_bytes(data, label, hints=hints)


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _nearly_utf8(data: bytes) -> bool:
    """UTF-8 with at most one broken sequence among several good ones (a truncated header, a stray byte)."""
    text = data.decode("utf-8", errors="replace")
    broken = text.count("\ufffd")
    good = sum(1 for ch in text if ord(ch) > 0x7F and ch != "\ufffd")
    return broken <= 1 and good >= 3


def _cp1252(data: bytes) -> str:
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def detect(data: bytes, *, hints: tuple[str, ...] = ()) -> str:
    """Best reading of unlabelled 8-bit bytes: UTF-8, common Chinese (GB18030 or Big5), a hinted charset,
    nearly-UTF-8, another script the general detector finds, then CP1252."""
    return _detect(data, hints)[0]


def _detect(data: bytes, hints: tuple[str, ...]) -> tuple[str, str | None]:
    if _is_utf8(data):
        return data.decode("utf-8"), "utf-8"
    best = _best_chinese(data, hints)
    if best is not None:
        return best
    for hint in hints:
        codec = codec_for(hint)
        if codec and codec not in ("cp1252", "utf-8", *_CHINESE):
            try:
                return data.decode(codec), codec
            except UnicodeDecodeError:
                continue
    if _nearly_utf8(data):
        return data.decode("utf-8", errors="replace"), "utf-8"
    other = _other_script(data)
    return other if other is not None else (_cp1252(data), "cp1252")


def _other_script(data: bytes) -> tuple[str, str] | None:
    """charset-normalizer's reading of `data` (and its codec) if it is in a script CP1252 cannot write.

    A Latin reading is left to CP1252, which unlabelled Western mail mostly is: the detector cannot tell CP1252
    from CP1250 on a few accented letters and would turn French `à` into `ŕ`. UTF-16 and UTF-32 without a byte
    order mark are never mail text, though short Latin bytes can read as them.
    """
    for match in charset_normalizer.from_bytes(data):
        if match.encoding.startswith(("utf_16", "utf_32")) and not match.byte_order_mark:
            continue
        text = str(match)
        return (text, match.encoding) if _mostly_another_script(text) else None
    return None


def _mostly_another_script(text: str) -> bool:
    """Most letters beyond ASCII are of a script other than Latin, in words of such letters: what Cyrillic,
    Greek or Japanese text looks like, and neither a misreading of Western text (`Jьrgen`) nor of stray bytes
    (`Б Н Р`) does."""
    letters = foreign = 0
    for i, ch in enumerate(text):
        if ch.isascii() or not ch.isalpha():
            continue
        letters += 1
        before, after = text[i - 1 : i], text[i + 1 : i + 2]
        in_word = any(not c.isascii() and c.isalpha() for c in (before, after))
        if in_word and not _is_latin(ch) and not any(_ascii_letter(c) for c in (before, after) if c):
            foreign += 1
    return letters > 0 and foreign >= 0.8 * letters


def _is_latin(ch: str) -> bool:
    code = ord(ch)
    return code < 0x250 or 0x1E00 <= code <= 0x1EFF


def _best_chinese(
    data: bytes, hints: tuple[str, ...], *, threshold: float = 0.6, min_chars: int = 2
) -> tuple[str, str] | None:
    """GB18030 or Big5, whichever reads as common Chinese (the message's first Chinese charset on a tie), and
    its codec; None if neither does."""
    scored: list[tuple[float, int, str, str]] = []
    preferred = _first_chinese(hints)
    for rank, codec in enumerate(_CHINESE):
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            continue
        if sum(1 for ch in text if 0x4E00 <= ord(ch) <= 0x9FFF) < min_chars:
            continue
        score = chinese_score(text)
        if score >= threshold:
            bonus = 0.05 if preferred in (codec, "cp950" if codec == "big5hkscs" else None) else 0.0
            scored.append((score + bonus, -rank, text, codec))
    if not scored:
        return None
    best = max(scored)
    return best[2], best[3]


def _first_chinese(hints: tuple[str, ...]) -> str | None:
    """The first of `hints` that is GB or Big5 (as the codec that reads it), if any."""
    for hint in hints:
        codec = codec_for(hint)
        if codec in _CHINESE:
            return "cp950" if codec == "big5hkscs" else codec
    return None


def chinese_score(text: str) -> float:
    """Share of the non-ASCII characters that are common Chinese characters or CJK punctuation.

    Common means: in GB2312 level 1 (the 3,755 most used simplified characters) or in Big5's frequently used
    block (5,401 traditional characters). A wrong decoding of GBK as Big5, or of Big5 as GBK, produces mostly
    rare characters, so the right reading scores far higher.
    """
    total = 0
    common = 0
    for i, ch in enumerate(text):
        if ord(ch) < 0x80 or ch.isspace():
            continue
        total += 1
        # A character between two Latin letters is an accented letter misread ("L\xfctke" as GBK), not Chinese.
        inside_word = 0 < i < len(text) - 1 and _ascii_letter(text[i - 1]) and _ascii_letter(text[i + 1])
        if not inside_word and _is_common_cjk(ch):
            common += 1
    return common / total if total else 0.0


def _ascii_letter(ch: str) -> bool:
    return ch.isascii() and ch.isalpha()


def _is_common_cjk(ch: str) -> bool:
    code = ord(ch)
    if 0x3000 <= code <= 0x303F or 0xFF01 <= code <= 0xFF5E:
        return True
    if not 0x4E00 <= code <= 0x9FFF:
        return False
    try:
        gb = ch.encode("gb2312")
        if 0xB0 <= gb[0] <= 0xD7:
            return True
    except UnicodeEncodeError:
        pass
    try:
        big5 = ch.encode("big5")
        return 0xA4 <= big5[0] <= 0xC6
    except UnicodeEncodeError:
        return False


def repair_mojibake(text: str) -> str:
    """Undo one UTF-8-over-Latin-1 round trip of CJK text (“¤j®a»¡” → “大家說”); anything else is kept."""
    if text.isascii() or any(ord(ch) > 0xFF for ch in text):
        return text
    raw = text.encode("latin-1")
    if _is_utf8(raw) and not raw.isascii():
        repaired = raw.decode("utf-8")
        return repaired if chinese_score(repaired) >= 0.6 else text
    best = _best_chinese(raw, ())
    return best[0] if best is not None else text


# --- ISO-2022-JP with the vendor rows real senders use ------------------------------------------------------


def decode_iso2022_jp(data: bytes) -> str:
    """ISO-2022-JP, falling back to CP932's reading of the JIS rows (NEC specials such as №, ①) on failure."""
    try:
        return data.decode("iso2022_jp")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("iso2022_jp_2004")
    except UnicodeDecodeError:
        pass
    out: list[str] = []
    mode = "ascii"
    i = 0
    while i < len(data):
        if data[i] == 0x1B and i + 2 < len(data):
            seq = data[i + 1 : i + 3]
            if seq in (b"$B", b"$@"):
                mode = "jis"
            elif seq == b"(I":
                mode = "kana"
            else:
                mode = "ascii"
            i += 3
            continue
        if mode == "jis" and i + 1 < len(data) and data[i] not in (0x0A, 0x0D):
            out.append(_jis_pair_to_text(data[i], data[i + 1]))
            i += 2
            continue
        if mode == "kana" and 0x21 <= data[i] <= 0x5F:
            out.append(bytes([data[i] + 0x80]).decode("cp932", errors="replace"))
        else:
            out.append(chr(data[i]) if data[i] < 0x80 else "\ufffd")
        i += 1
    return "".join(out)


def _jis_pair_to_text(j1: int, j2: int) -> str:
    s1 = ((j1 + 1) >> 1) + (0x70 if j1 <= 0x5E else 0xB0)
    s2 = j2 + 0x1F + (1 if j2 >= 0x60 else 0) if j1 % 2 else j2 + 0x7E
    return bytes([s1 & 0xFF, s2 & 0xFF]).decode("cp932", errors="replace")


# --- RFC 2047 ----------------------------------------------------------------------------------------------

_FOLDING = re.compile(r"[ \t\r\n]+")
_ENCODED_WORD = re.compile(r"=\?([^?\s]+?)(?:\*[^?\s]*)?\?([bBqQ])\?([^?\s]*)\?=")


@dataclass(frozen=True)
class _Chunk:
    data: bytes
    charset: str | None
    """None for text outside encoded words (raw 8-bit or ASCII)."""


def decode_header_value(value: str, *, hints: tuple[str, ...] = ()) -> str:
    """A header's text: encoded words decoded (adjacent words of one charset joined as bytes first, so a
    character split across two words survives), raw 8-bit bytes detected, folding whitespace collapsed.

    `value` is the header as the parser gives it: raw bytes beyond ASCII arrive as surrogate escapes.
    """
    text = value.encode("utf-8", errors="surrogateescape").decode("latin-1") if not value.isascii() else value
    chunks: list[_Chunk] = []
    position = 0
    for match in _ENCODED_WORD.finditer(text):
        between = text[position : match.start()]
        previous_is_word = bool(chunks) and chunks[-1].charset is not None
        if between and not (previous_is_word and between.isspace()):
            chunks.append(_Chunk(between.encode("latin-1"), None))
        charset, encoding, payload = match.group(1), match.group(2).lower(), match.group(3)
        chunks.append(_Chunk(_decode_word(payload, encoding), charset.lower()))
        position = match.end()
    if position < len(text):
        chunks.append(_Chunk(text[position:].encode("latin-1"), None))
    merged: list[_Chunk] = []
    for chunk in chunks:
        if merged and chunk.charset is not None and merged[-1].charset == chunk.charset:
            merged[-1] = _Chunk(merged[-1].data + chunk.data, chunk.charset)
        else:
            merged.append(chunk)
    parts = []
    for chunk in merged:
        if chunk.charset is None:
            parts.append(repair_mojibake(decode_bytes(chunk.data, None, hints=hints)))
        else:
            parts.append(decode_bytes(chunk.data, chunk.charset, hints=hints))
    return _FOLDING.sub(" ", "".join(parts)).strip()


def _decode_word(payload: str, encoding: str) -> bytes:
    if encoding == "b":
        padded = payload + "=" * (-len(payload) % 4)
        try:
            return base64.b64decode(padded)
        except (binascii.Error, ValueError):
            return payload.encode("latin-1")
    data = payload.replace("_", " ").encode("latin-1")
    return _unquote_q(data)


def _unquote_q(data: bytes) -> bytes:
    out = bytearray()
    i = 0
    while i < len(data):
        if data[i] == 0x3D and i + 2 < len(data) + 0 and _is_hex(data[i + 1 : i + 3]):
            out.append(int(data[i + 1 : i + 3], 16))
            i += 3
        else:
            out.append(data[i])
            i += 1
    return bytes(out)


def _is_hex(pair: bytes) -> bool:
    return len(pair) == 2 and all(c in b"0123456789abcdefABCDEF" for c in pair)

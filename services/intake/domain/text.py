"""Clean text from what customers send: HTML to text, quoted replies and signatures cut, subjects for threading."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from html.parser import HTMLParser

from shared.text import fold

# --- HTML to text --------------------------------------------------------------------------------------------

_BLOCK = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "br",
        "dd",
        "div",
        "dl",
        "dt",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "ul",
    ]
)
_SKIP = frozenset(("script", "style", "head", "title", "noscript", "template"))


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip_depth = 0
        self.quote_depth = 0
        self.pre_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip_depth += 1
            return
        classes = " ".join(v or "" for k, v in attrs if k == "class")
        if tag == "blockquote" or "gmail_quote" in classes or "yahoo_quoted" in classes:
            self.quote_depth += 1 if tag == "blockquote" else 0
        if tag == "pre":
            self.pre_depth += 1
        if tag in _BLOCK:
            self.parts.append("\n")
        if tag == "li":
            self.parts.append("- ")
        if tag in ("td", "th"):
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip_depth = max(0, self.skip_depth - 1)
            return
        if tag == "blockquote":
            self.quote_depth = max(0, self.quote_depth - 1)
        if tag == "pre":
            self.pre_depth = max(0, self.pre_depth - 1)
        if tag in _BLOCK:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("br", "hr"):
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self.skip_depth:
            return
        if not self.pre_depth:
            data = re.sub(r"[ \t\r\n\f]+", " ", data)
        if self.quote_depth:
            data = data.replace("\n", "\n> ")
            if not self.parts or self.parts[-1].endswith("\n"):
                data = "> " + data.lstrip()
        self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Readable text of an HTML body: blocks become lines, scripts and styles vanish, blockquotes become `> `."""
    parser = _TextExtractor()
    try:
        parser.feed(markup)
        parser.close()
    except AssertionError:  # html.parser asserts on some malformed declarations; keep what it read
        pass
    text = "".join(parser.parts).replace("\xa0", " ")
    lines = [line.strip() for line in text.split("\n")]
    return _squeeze_blank_lines(lines)


def _squeeze_blank_lines(lines: list[str]) -> str:
    out: list[str] = []
    for line in lines:
        if not line and (not out or not out[-1]):
            continue
        out.append(line)
    return "\n".join(out).strip()


# --- quoted replies and signatures --------------------------------------------------------------------------

_COLON = r"[:：]"
_ATTRIBUTION = [
    re.compile(r"^\s*On\b.{0,300}\bwrote\s*:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^\s*Le\b.{0,300}\ba écrit\s*:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^\s*Am\b.{0,300}\bschrieb.{0,100}:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^\s*El\b.{0,300}\bescribió\s*:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^\s*在.{0,300}(写道|寫道)\s*" + _COLON + r"?\s*$", re.DOTALL),
    re.compile(r"^\s*.{0,300}(写道|寫道)\s*" + _COLON + r"\s*$", re.DOTALL),
]
_SEPARATOR = re.compile(
    r"^\s*(-{2,}\s*(Original Message|Original|原始邮件|原始郵件|原邮件)\s*-{2,})\s*$",
    re.IGNORECASE,
)
_HEADER_START = re.compile(r"^\s*\*?(From|发件人|發件人|寄件者|寄件人)\*?\s*" + _COLON, re.IGNORECASE)
_HEADER_NEXT = re.compile(
    r"^\s*\*?(Sent|Date|To|Cc|Subject|发送时间|發送時間|时间|時間|日期|收件人|抄送|主题|主題|主旨|副本)\*?\s*"
    + _COLON,
    re.IGNORECASE,
)
_REPLY_PREFIX_LINE = re.compile(r"^\s*(回复|答复|回覆|答覆)\s*" + _COLON)
_RULE_LINE = re.compile(r"^[\s_\-=*]*$")
_SIGNATURE_SEPARATOR = re.compile(r"^\s*--\s*$|^\s*—{2,}\s*$")
_MOBILE_FOOTER = re.compile(
    r"^\s*(Sent from my .{1,60}|Sent from .{1,40} for (iOS|Android)|Get Outlook for .{1,30}|Sent via .{1,40}"
    r"|发自我的.{1,30}|發自我的.{1,30}|来自.{1,20}(客户端|邮箱|郵箱)|从我的.{1,30}发送|從我的.{1,30}傳送"
    r"|Von meinem .{1,40} gesendet|Enviado desde mi .{1,40})\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class SplitText:
    new: str
    """What the sender wrote this time: quotes and signature removed."""
    quoted: str
    signature: str


def split_reply(text: str) -> SplitText:
    """Separate the new text from quoted replies (any client, Chinese ones included) and the signature."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    start = _quote_start(lines)
    if start is None:
        head, quoted = lines, []
    else:
        head, quoted = lines[:start], lines[start:]
    head = [line for line in head if not line.lstrip().startswith(">")]
    if not "".join(head).strip() and quoted:
        # Bottom-posting: the new text follows the quote.
        tail = [line for line in quoted[1:] if not line.lstrip().startswith(">")]
        tail_start = _quote_start(tail)
        head = tail[:tail_start] if tail_start is not None else tail
        head = [line for line in head if not _HEADER_NEXT.match(line) and not _HEADER_START.match(line)]
    new_lines, signature = _cut_signature(head)
    while new_lines and _RULE_LINE.match(new_lines[-1]):
        new_lines = new_lines[:-1]
    return SplitText(
        new=_squeeze_blank_lines([line.rstrip() for line in new_lines]),
        quoted="\n".join(quoted).strip(),
        signature="\n".join(signature).strip(),
    )


def _quote_start(lines: list[str]) -> int | None:
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            continue
        joined = stripped + (" " + lines[i + 1].strip() if i + 1 < len(lines) else "")
        if any(p.match(stripped) for p in _ATTRIBUTION) or (
            i + 1 < len(lines) and _ATTRIBUTION[0].match(joined) and not stripped.startswith(">")
        ):
            return i
        if _SEPARATOR.match(stripped):
            return i
        if (_HEADER_START.match(stripped) or _REPLY_PREFIX_LINE.match(stripped)) and _header_block_follows(
            lines, i
        ):
            return i
        if stripped.startswith(">") and _quoted_run(lines, i) >= 2:
            return i
    return None


def _header_block_follows(lines: list[str], i: int) -> bool:
    window = [line for line in lines[i + 1 : i + 6] if line.strip()]
    return sum(1 for line in window if _HEADER_NEXT.match(line)) >= 1


def _quoted_run(lines: list[str], i: int) -> int:
    run = 0
    for line in lines[i:]:
        if line.strip().startswith(">"):
            run += 1
        elif line.strip():
            break
    return run


def _cut_signature(lines: list[str]) -> tuple[list[str], list[str]]:
    for i, line in enumerate(lines):
        if _SIGNATURE_SEPARATOR.match(line) and i > 0:
            return lines[:i], lines[i + 1 :]
    end = len(lines)
    while end > 0 and not lines[end - 1].strip():
        end -= 1
    if end > 0 and _MOBILE_FOOTER.match(lines[end - 1]):
        return lines[: end - 1], lines[end - 1 : end]
    return lines, []


# --- subjects -----------------------------------------------------------------------------------------------

_SUBJECT_PREFIX = re.compile(
    r"^\s*((re|fw|fwd|aw|wg|sv|vs|tr|rif|antw|odp|ynt)(\[\d+\])?\s*[:：]|(回复|答复|回覆|答覆|转发|轉寄|转寄|轉發)\s*[:：]"
    r"|\[[^\]]{0,40}\]\s*)\s*",
    re.IGNORECASE,
)


def normalise_subject(subject: str | None) -> str:
    """The thread's subject: reply and forward prefixes (English and Chinese clients) removed, folded as rules
    fold text (case, width, either Chinese script), so a reply whose client rewrote the subject still threads."""
    if not subject:
        return ""
    text = unicodedata.normalize("NFKC", subject)
    while True:
        stripped = _SUBJECT_PREFIX.sub("", text, count=1)
        if stripped == text:
            break
        text = stripped
    return " ".join(fold(text).split())

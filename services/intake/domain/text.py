"""Clean text from what customers send: HTML to text, quoted replies and signatures cut, language detected."""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass
from html.parser import HTMLParser

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


def unescape_text(text: str) -> str:
    return html.unescape(text)


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
    """The thread's subject: reply and forward prefixes (English and Chinese clients) removed, case folded."""
    if not subject:
        return ""
    text = unicodedata.normalize("NFKC", subject)
    while True:
        stripped = _SUBJECT_PREFIX.sub("", text, count=1)
        if stripped == text:
            break
        text = stripped
    return " ".join(text.split()).casefold()


# --- language -----------------------------------------------------------------------------------------------

# Common characters that differ between Simplified and Traditional writing, as (simplified, traditional) pairs.
_SIMPLIFIED = (
    "们这个来时会说对国学过还发经与开关问题处务话应当点机电业么后实现从产动种体气进长将无书见认为请单号码"
    "费账户区网联宝货钱买卖运输订间让给没谢帮复维护险诉严紧录换银询错误数据统断线页验证讯质态满议设优员报"
    "价递签额专乐东两丢丰临举义乌乱争亏云亚亲亿仅仓众伙伤伦伪传佣侠侣侦侧侨债倾储儿兑党兰兴养兽内册军农冲"
    "决况冻净准凉减凑几凤凭击创删别刹剂剑剧劝办励劳势勋医华协卫厂厅历压厌县参双变叙叠叶叹吓吗启吴呐听吨响"
    "哑哗唤啰喷团园围图圆圣场坏块坚坛坝坟坠垄垒垦墙壮声壳备够头夸夺奋奖妆妇妈娱婴孙宁宠审宪宫宽宾寻导寿尔"
    "尘尝层屉届属岁岂岗岛峡币帅师帐带帘帻广庄庆库庙废异弃张弥弯弹强归彻径忆忧怀怜总恋恳恶恼悦悬惊惧惨惩惫"
    "惯愤愿懒戏战扑执扩扫扬扰抚抛抢担拟拢拥拦拨择挂挡挣挤挥捞损掳掷揽搀搁搂携摄摆摇摊撑撵擞敌敛斋旧旷昙昼"
    "显晋晒晓晕暂术杀杂权条杨极构枪柜树样档桥梦检椭楼"
)
_TRADITIONAL = (
    "們這個來時會說對國學過還發經與開關問題處務話應當點機電業麼後實現從產動種體氣進長將無書見認為請單號碼"
    "費賬戶區網聯寶貨錢買賣運輸訂間讓給沒謝幫復維護險訴嚴緊錄換銀詢錯誤數據統斷線頁驗證訊質態滿議設優員報"
    "價遞簽額專樂東兩丟豐臨舉義烏亂爭虧雲亞親億僅倉眾夥傷倫偽傳傭俠侶偵側僑債傾儲兒兌黨蘭興養獸內冊軍農衝"
    "決況凍淨準涼減湊幾鳳憑擊創刪別剎劑劍劇勸辦勵勞勢勳醫華協衛廠廳歷壓厭縣參雙變敘疊葉嘆嚇嗎啟吳吶聽噸響"
    "啞嘩喚囉噴團園圍圖圓聖場壞塊堅壇壩墳墜壟壘墾牆壯聲殼備夠頭誇奪奮獎妝婦媽娛嬰孫寧寵審憲宮寬賓尋導壽爾"
    "塵嘗層屜屆屬歲豈崗島峽幣帥師帳帶簾幘廣莊慶庫廟廢異棄張彌彎彈強歸徹徑憶憂懷憐總戀懇惡惱悅懸驚懼慘懲憊"
    "慣憤願懶戲戰撲執擴掃揚擾撫拋搶擔擬攏擁攔撥擇掛擋掙擠揮撈損擄擲攬攙擱摟攜攝擺搖攤撐攆擻敵斂齋舊曠曇晝"
    "顯晉曬曉暈暫術殺雜權條楊極構槍櫃樹樣檔橋夢檢橢樓"
)
_HANS_ONLY = frozenset(s for s, t in zip(_SIMPLIFIED, _TRADITIONAL, strict=True) if s != t)
_HANT_ONLY = frozenset(t for s, t in zip(_SIMPLIFIED, _TRADITIONAL, strict=True) if s != t)

_T2S = str.maketrans({t: s for s, t in zip(_SIMPLIFIED, _TRADITIONAL, strict=True) if s != t})


def to_simplified(text: str) -> str:
    """Common Traditional characters replaced by their Simplified forms (for matching, not for display)."""
    return text.translate(_T2S)


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
    hans = hant = 0
    for ch in text:
        code = ord(ch)
        if 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF:
            counts["han"] += 1
            if ch in _HANS_ONLY:
                hans += 1
            elif ch in _HANT_ONLY:
                hant += 1
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
            return "zh-Hant" if hant > hans else "zh-Hans"
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

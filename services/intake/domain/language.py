"""The language of a text: zh-Hans or zh-Hant by the characters used, ja, ko, ru, en and a few other
Latin-script languages by common words; and the Traditional → Simplified folding that rules match with."""

from __future__ import annotations

import re

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

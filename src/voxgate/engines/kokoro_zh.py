"""Kokoro's Chinese front end: misaki's G2P path for Kokoro v1.0, with voxgate's polyphone readings.

The kokoro engine used to call ``misaki.zh.ZHG2P()(text)``. Built without a ``version``, that is
misaki's *legacy* path, the one Kokoro v1.0 was trained with: numbers to words (``cn2an``),
Chinese punctuation to ASCII, ``jieba.lcut`` on each run of Han characters, ``pypinyin`` on each
word alone (``Style.TONE3``, neutral tone as 5), misaki's pinyin→IPA table per syllable, words
joined by spaces. No tone sandhi, no erhua.

:class:`ZhG2P` does exactly the same, step by step, so that it can correct the reading of a word
before it becomes phonemes: misaki takes no per-word hints, and pypinyin reads a one-character
word alone, without its neighbours, so it cannot tell 还钱 (huan2) from 还有 (hai2), or the
adverbial 地 (de5) from the noun (di4). The context rules in :data:`RULES` (found with
``bench/g2p_audit.py``, see ``docs/quality/g2p_audit.md``) fix the systematic cases. With
``fixes=False`` the output is byte for byte misaki's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

_HAN = re.compile("[\u4e00-\u9fff]+")
_SEGMENTS = re.compile("[\u4e00-\u9fff]+|[^\u4e00-\u9fff]+")
_COMBINING_BRIDGE_BELOW = chr(815)  # misaki strips it from its output


@dataclass(frozen=True, slots=True)
class Word:
    """One jieba word of a Han run and its reading.

    Attributes:
        text: the word (Han characters only).
        pinyin: one TONE3 syllable per character (``"hang2"``; tone 5 is neutral).
    """

    text: str
    pinyin: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Rule:
    """A reading that depends on the neighbouring characters.

    Attributes:
        pattern: matches in a run of Han characters; its group ``c`` is the character to re-read.
        reading: the TONE3 syllable it gets.
        replaces: only a character that pypinyin read this way is re-read (so a word pypinyin
            knows, such as 因为 or 校长, is never touched by a rule meant for another sense).
    """

    pattern: re.Pattern[str]
    reading: str
    replaces: str


def _rule(pattern: str, reading: str, replaces: str) -> Rule:
    return Rule(re.compile(pattern), reading, replaces)


_NUMERAL = "零一二三四五六七八九十百千两几每"
_TITLES = "先生|女士|老师|小姐|总|经理|师傅|医生|教授|同学|阿姨|叔叔|大爷|大夫|主任|校长|局长"
_YI_STAYS = "零〇一二三四五六七八九月日号"
"""一 before these is a numeral (一九四九, 一月一日) and keeps its first tone."""
_NOT_DI_WORD = "(?![方区铁址图球下上面点震板带位毯质理产道势基域狱主盘段形名标])"
_BEFORE_NAME = "(?:^|(?<=[请问是和跟给找叫位姓的与同向被让对]))"
_SURNAMES = {
    "曾": ("zeng1", "ceng2"),
    "单": ("shan4", "dan1"),
    "查": ("zha1", "cha2"),
    "乐": ("yue4", "le4"),
    "解": ("xie4", "jie3"),
    "任": ("ren2", "ren4"),
    "仇": ("qiu2", "chou2"),
    "朴": ("piao2", "pu3"),
}

RULES: tuple[Rule, ...] = (
    # 得 as a modal ("must") after a subject or adverb; otherwise, after a verb, the complement particle
    _rule("(?<=[我你他她它们咱家还就也都总又非])(?P<c>得)(?![了到出分知以益罪意体当逞])", "dei3", "de2"),
    _rule("(?<=[舍记怪顾巴恨由]不)(?P<c>得)", "de5", "de2"),  # 舍不得, 怪不得; but 不得不, 不得已 stay de2
    _rule("(?<=[\u4e00-\u9fff])(?<!不)(?P<c>得)(?![了到出分知以益罪意体当逞])", "de5", "de2"),
    # adverbial 地 after a reduplicated word or a typical adverb ending (慢慢地, 开心地, 突然地)
    _rule("(?P<r>[\u4e00-\u9fff])(?P=r)(?P<c>地)" + _NOT_DI_WORD, "de5", "di4"),
    _rule("(?<=[心然兴力真气意断速觉细定样静])(?P<c>地)" + _NOT_DI_WORD, "de5", "di4"),
    # 为 as "is / as": before a number or in 为准, 为主, 为止, 为例
    _rule("(?<![因])(?P<c>为)(?=[准主止例]|[" + _NUMERAL + "])", "wei2", "wei4"),
    # 长 as "long" after a degree word (很长, 时长, 全长, 多长)
    _rule("(?<=[很太更最真挺好多全时较])(?P<c>长)(?![大辈官者相势进出满])", "chang2", "zhang3"),
    # 数 as the verb "count"
    _rule("(?P<c>数)(?=一数|一下|数|星星|钱|不清|不过来|到|着)", "shu3", "shu4"),
    # 中 as "hit, win" (中了大奖, 中奖)
    _rule("(?<=[他她我你谁也又就没都])(?P<c>中)(?=了)", "zhong4", "zhong1"),
    _rule("(?P<c>中)(?=奖|标|毒|签|彩)", "zhong4", "zhong1"),
    # 调 as "adjust" (调得很低, 调一下, 调好)
    _rule("(?P<c>调)(?=得|好|一下|高|低|大|小|成)", "tiao2", "diao4"),
    # 重 as "again" (如需重听, 重新, 重来)
    _rule("(?P<c>重)(?=听|播|拨|来|做|写|试|说|读|输|启|置|装|演|建|修|申|选|考|逢)", "chong2", "zhong4"),
    # 还 as "give back" (还款, 还钱, 还给)
    _rule("(?P<c>还)(?=款|钱|贷|债|账|书|给|清|原|手|价)", "huan2", "hai2"),
    # 只 as a measure word (那只猫, 这只, 两只)
    _rule("(?<=[那这哪" + _NUMERAL + "三四五六七八九半某])(?P<c>只)(?![是要有能好会不])", "zhi1", "zhi3"),
    # surnames before a title or after 姓 (曾先生, 单老师, 姓任)
    *(
        _rule(_BEFORE_NAME + f"(?P<c>{char})(?={_TITLES})", surname, common)
        for char, (surname, common) in _SURNAMES.items()
    ),
    *(_rule(f"(?<=姓)(?P<c>{char})", surname, common) for char, (surname, common) in _SURNAMES.items()),
)
"""voxgate's reading fixes, from ``bench/g2p_audit.py`` on the zh_eval corpus (dev and test)."""


def fix_readings(han: str, syllables: list[str], rules: Sequence[Rule] = RULES) -> list[str]:
    """Re-read the characters of a Han run that a rule matches.

    Args:
        han: a run of Han characters.
        syllables: pypinyin's reading, one TONE3 syllable per character of ``han``.
        rules: the rules, tried in order; the first that re-reads a character wins.

    Returns:
        The corrected syllables (a new list).
    """
    fixed = list(syllables)
    done: set[int] = set()
    for rule in rules:
        for m in rule.pattern.finditer(han):
            i = m.start("c")
            if i not in done and syllables[i] == rule.replaces:
                fixed[i] = rule.reading
                done.add(i)
    return fixed


def tone_sandhi(words: Sequence[Word]) -> list[Word]:
    """Spoken tones of a Han run: 一 and 不 sandhi and third-tone sandhi (lexical tones in, surface out).

    Simplified rules over jieba words, after misaki's ``tone_sandhi`` (PaddleSpeech's rules): 一 or
    不 ending a longer word (统一, 要不) keeps its tone; otherwise 一 reads yi2 before a fourth (or
    neutral) tone and yi4 before the others, but stays yi1 as a numeral (十一, 第一, 一九四九,
    一月一日) and becomes yi5 in a repeated verb (看一看); 不 reads bu2 before a fourth tone and
    bu5 in a repeated word or in the middle of a three-character word (好不好, 看不懂). A word of
    two third tones, or two neighbouring words of third tones only and three syllables at most
    (很好, 我也想), read the first third tone(s) as second.

    Args:
        words: read words of one run.

    Returns:
        The same words with surface tones.
    """
    text = "".join(w.text for w in words)
    flat = [s for w in words for s in w.pinyin]
    out = list(flat)
    word_of: list[tuple[int, int]] = []  # (start, length) of the word holding each character
    pos = 0
    for w in words:
        word_of.extend([(pos, len(w.text))] * len(w.text))
        pos += len(w.text)
    for i, char in enumerate(text):
        start, length = word_of[i]
        if char not in "一不" or i + 1 == len(text) or (length > 1 and i == start + length - 1):
            continue
        prev_char = text[i - 1] if i else ""
        next_char = text[i + 1]
        following = flat[i + 1][-1:]
        if char == "一" and flat[i] == "yi1":
            if prev_char == next_char:
                out[i] = "yi5"
            elif (
                not (prev_char and prev_char in _NUMERAL + "第")
                and next_char not in "零〇一二三四五六七八九月日号"
            ):
                out[i] = "yi2" if following in "45" else "yi4"
        elif char == "不" and flat[i] == "bu4":
            if prev_char == next_char or (length == 3 and i == start + 1):
                out[i] = "bu5"
            elif following == "4":
                out[i] = "bu2"
    pos = 0
    for k, w in enumerate(words):
        end = pos + len(w.text)
        tones = [s[-1:] for s in out[pos:end]]
        if len(w.text) == 2 and tones == ["3", "3"]:
            out[pos] = out[pos][:-1] + "2"
        nxt = words[k + 1] if k + 1 < len(words) else None
        if (
            nxt is not None
            and len(w.text) + len(nxt.text) <= 3
            and all(t == "3" for t in tones)
            and all(s.endswith("3") for s in out[end : end + len(nxt.text)])
        ):
            for j in range(pos, end):
                out[j] = out[j][:-1] + "2"
        pos = end
    result = []
    pos = 0
    for w in words:
        result.append(Word(w.text, tuple(out[pos : pos + len(w.text)])))
        pos += len(w.text)
    return result


class ZhG2P:
    """Chinese text → Kokoro v1.0 phonemes (misaki's legacy G2P plus voxgate's reading fixes).

    Args:
        fixes: apply :data:`RULES`; ``False`` (with ``sandhi=False``) reproduces misaki's
            output exactly, the audit's baseline.
        sandhi: also apply :func:`tone_sandhi` (off by default: Kokoro v1.0 learned Chinese from
            misaki's lexical tones, so whether spoken tones help it is for the CER bench to say).
    """

    def __init__(self, *, fixes: bool = True, sandhi: bool = False) -> None:
        import cn2an
        import jieba
        from misaki.zh import ZHG2P
        from pypinyin import Style, lazy_pinyin

        self._fixes = fixes
        self._sandhi = sandhi
        self._an2cn: Callable[[str], str] = lambda text: str(cn2an.transform(text, "an2cn"))
        self._punctuation: Callable[[str], str] = ZHG2P.map_punctuation
        self._cut: Callable[[str], list[str]] = lambda text: list(jieba.lcut(text, cut_all=False))
        self._pinyin: Callable[[str], list[str]] = lambda word: list(
            lazy_pinyin(word, style=Style.TONE3, neutral_tone_with_five=True)
        )
        self._py2ipa: Callable[[str], str] = ZHG2P.py2ipa

    def prepare(self, text: str) -> str:
        """misaki's text steps before G2P: Arabic numbers to Chinese, Chinese punctuation to ASCII."""
        return self._punctuation(self._an2cn(text))

    def words(self, han: str) -> list[Word]:
        """Segment a run of Han characters and read each word (with the fixes, if on).

        Args:
            han: Han characters only (a run of :meth:`prepare`'s output).

        Returns:
            The jieba words with one syllable per character (a word pypinyin cannot read, such
            as a rare character, keeps pypinyin's output and is never re-read).
        """
        words = [Word(text, tuple(self._pinyin(text))) for text in self._cut(han)]
        if not all(len(w.pinyin) == len(w.text) for w in words):
            return words
        if self._fixes:
            fixed = fix_readings(han, [s for w in words for s in w.pinyin])
            pos = 0
            for k, w in enumerate(words):
                words[k] = Word(w.text, tuple(fixed[pos : pos + len(w.text)]))
                pos += len(w.text)
        return tone_sandhi(words) if self._sandhi else words

    def __call__(self, text: str) -> str:
        """Kokoro phonemes of ``text`` (Chinese, possibly with punctuation and Latin letters).

        Returns:
            IPA with misaki's tone arrows, words separated by spaces; non-Han text passes through
            as misaki passes it.
        """
        if not text.strip():
            return ""
        out = []
        for segment in _SEGMENTS.findall(self.prepare(text)):
            if _HAN.fullmatch(segment):
                out.append(" ".join(self.ipa(word) for word in self.words(segment)))
            else:
                out.append(segment)
        return "".join(out).replace(_COMBINING_BRIDGE_BELOW, "")

    def ipa(self, word: Word) -> str:
        """misaki's IPA for one read word."""
        return "".join(self._py2ipa(syllable) for syllable in word.pinyin)

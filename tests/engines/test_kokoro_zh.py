"""kokoro's Chinese front end: misaki's own output without fixes, and the polyphone and sandhi fixes."""

from __future__ import annotations

import pytest

from voxgate.engines.kokoro_zh import Word, ZhG2P, fix_readings, tone_sandhi


@pytest.fixture(scope="module")
def plain() -> ZhG2P:
    return ZhG2P(fixes=False)


@pytest.fixture(scope="module")
def fixed() -> ZhG2P:
    return ZhG2P()


def _syllables(g2p: ZhG2P, han: str) -> list[str]:
    return [s for w in g2p.words(han) for s in w.pinyin]


@pytest.mark.parametrize(
    "text",
    [
        "今天天气很好，我们去公园散步吧。",
        "他慢慢地走着，还没还钱。",
        "我刚买了一台新的iPhone，花了3999元！",
        "「你好」：银行行长说，请按时还款；对不起？",
    ],
)
def test_without_fixes_the_output_is_misakis(plain: ZhG2P, text: str) -> None:
    """fixes=False reproduces misaki.zh.ZHG2P()(text) byte for byte (the audit's baseline)."""
    from misaki.zh import ZHG2P

    assert plain(text) == ZHG2P()(text)[0]


@pytest.mark.parametrize(
    ("han", "index", "misaki", "voxgate"),
    [
        ("他跑得比我快", 2, "de2", "de5"),
        ("我得走了", 1, "de2", "dei3"),
        ("他慢慢地走", 3, "di4", "de5"),
        ("孩子们开心地玩耍", 5, "di4", "de5"),
        ("以机场广播为准", 5, "wei4", "wei2"),
        ("震级为五点八级", 2, "wei4", "wei2"),
        ("她的头发很长", 5, "zhang3", "chang2"),
        ("通话时长限制", 3, "zhang3", "chang2"),
        ("你帮我数一数", 3, "shu4", "shu3"),
        ("请按时还款", 3, "hai2", "huan2"),
        ("如需重听", 2, "zhong4", "chong2"),
        ("他中了大奖", 1, "zhong1", "zhong4"),
        ("温度调得很低", 2, "diao4", "tiao2"),
        ("那只小猫", 1, "zhi3", "zhi1"),
        ("曾先生今天来", 0, "ceng2", "zeng1"),
        ("请乐先生到前台", 1, "le4", "yue4"),
        ("查先生", 0, "cha2", "zha1"),
    ],
)
def test_fixes_correct_misakis_readings(plain: ZhG2P, fixed: ZhG2P, han, index, misaki, voxgate) -> None:
    """Each rule re-reads a character misaki (pypinyin on a lone jieba word) gets wrong."""
    assert _syllables(plain, han)[index] == misaki
    assert _syllables(fixed, han)[index] == voxgate


@pytest.mark.parametrize(
    ("han", "index", "reading"),
    [
        ("草地上", 1, "di4"),
        ("当地的天气", 1, "di4"),
        ("因为下雨", 1, "wei4"),
        ("我们的校长", 4, "zhang3"),
        ("还有五个人", 0, "hai2"),
        ("这只是开始", 1, "zhi3"),
        ("他曾经来过", 1, "ceng2"),
        ("这个箱子很重", 5, "zhong4"),
        ("我觉得很好", 2, "de5"),
        ("他得到了奖", 1, "de2"),
        ("我不得不承认", 2, "de2"),
        ("始终舍不得放下", 4, "de5"),
        ("这本书数字很多", 3, "shu4"),
    ],
)
def test_fixes_leave_the_other_senses_alone(fixed: ZhG2P, han: str, index: int, reading: str) -> None:
    """A rule fires only in its context: the same character elsewhere keeps pypinyin's reading."""
    assert _syllables(fixed, han)[index] == reading


def test_fixed_reading_reaches_the_phonemes(plain: ZhG2P, fixed: ZhG2P) -> None:
    """The fix changes what kokoro is fed: 地 becomes misaki's IPA for de5, not di4."""
    from misaki.zh import ZHG2P

    assert ZHG2P.py2ipa("de5") in fixed("慢慢地走")
    assert ZHG2P.py2ipa("di4") in plain("慢慢地走")
    assert ZHG2P.py2ipa("di4") not in fixed("慢慢地走")


def test_fix_readings_only_replaces_the_named_wrong_reading() -> None:
    """A rule whose character pypinyin already read otherwise (a known word) does nothing."""
    assert fix_readings("很长", ["hen3", "zhang3"]) == ["hen3", "chang2"]
    assert fix_readings("很长", ["hen3", "chang2"]) == ["hen3", "chang2"]


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ([Word("一", ("yi1",)), Word("天", ("tian1",))], ["yi4", "tian1"]),
        ([Word("一定", ("yi1", "ding4"))], ["yi2", "ding4"]),
        ([Word("第一", ("di4", "yi1")), Word("天", ("tian1",))], ["di4", "yi1", "tian1"]),
        ([Word("一九四九", ("yi1", "jiu3", "si4", "jiu3"))], ["yi1", "jiu3", "si4", "jiu3"]),
        ([Word("一月", ("yi1", "yue4"))], ["yi1", "yue4"]),
        ([Word("统一", ("tong3", "yi1")), Word("的", ("de5",))], ["tong3", "yi1", "de5"]),
        ([Word("看一看", ("kan4", "yi1", "kan4"))], ["kan4", "yi5", "kan4"]),
        ([Word("不要", ("bu4", "yao4"))], ["bu2", "yao4"]),
        ([Word("不好", ("bu4", "hao3"))], ["bu4", "hao3"]),
        ([Word("看不懂", ("kan4", "bu4", "dong3"))], ["kan4", "bu5", "dong3"]),
        ([Word("你好", ("ni3", "hao3"))], ["ni2", "hao3"]),
        ([Word("很", ("hen3",)), Word("好", ("hao3",))], ["hen2", "hao3"]),
        ([Word("我们", ("wo3", "men5")), Word("走", ("zou3",))], ["wo3", "men5", "zou3"]),
    ],
)
def test_tone_sandhi(words: list[Word], expected: list[str]) -> None:
    """一 / 不 sandhi (not on numerals, ordinals, word ends); third-tone sandhi in and across short words."""
    assert [s for w in tone_sandhi(words) for s in w.pinyin] == expected


def test_sandhi_mode_changes_the_phonemes() -> None:
    """With sandhi on, 一个 and 你好 reach kokoro with spoken tones (yi2 is already pypinyin's; 你 → ni2)."""
    from misaki.zh import ZHG2P

    assert ZHG2P.py2ipa("ni2") in ZhG2P(sandhi=True)("你好")
    assert ZHG2P.py2ipa("ni2") not in ZhG2P()("你好")

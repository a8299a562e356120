"""The zh_eval corpus, its loader, and the G2P audit's pure parts (real jieba and misaki, no synthesis)."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest

sys.path.append(str(Path(__file__).resolve().parents[2] / "bench"))

from _corpus import EVAL_CORPORA, load_eval, parse_annotated
from g2p_audit import ERHUA_MARK, Char, Reference, audit, classify, map_gold
from voxgate.engines.kokoro_zh import ZhG2P


def test_corpus_size_split_and_registers() -> None:
    """352 sentences, 11 registers of 32, split 19 dev / 13 test per register, unique ids."""
    dev, test = load_eval("zh_eval", "dev"), load_eval("zh_eval", "test")
    assert (len(dev), len(test)) == (209, 143)
    every = dev + test
    assert len({s.id for s in every}) == len(every)
    assert set(Counter(s.register for s in every).values()) == {32}
    assert set(Counter(s.register for s in test).values()) == {13}
    # the documented rule: sentence k of a register is in test when k % 5 is 2 or 4
    assert all(int(s.id.rsplit("-", 1)[1]) % 5 in (2, 4) for s in test)
    assert not {s.text for s in dev} & {s.text for s in test}


def test_corpus_readings_annotate_han_characters() -> None:
    """Annotations are removed from the text and each points at a Han character with a TONE3 syllable."""
    every = load_eval("zh_eval", "dev") + load_eval("zh_eval", "test")
    assert sum(len(s.readings) for s in every) >= 200
    for s in every:
        assert "[" not in s.text
        for index, reading in s.readings:
            assert "\u4e00" <= s.text[index] <= "\u9fff"
            assert reading[-1] in "12345"


def test_parse_annotated() -> None:
    """``字[pinyin]`` gives the reading of the character before it; malformed brackets are rejected."""
    assert parse_annotated("银行[hang2]的行[hang2]长[zhang3]") == (
        "银行的行长",
        ((1, "hang2"), (3, "hang2"), (4, "zhang3")),
    )
    with pytest.raises(ValueError, match="follows no character"):
        parse_annotated("[hang2]行")
    with pytest.raises(ValueError, match="malformed"):
        parse_annotated("行[hang]")


def test_load_eval_rejects_an_unknown_split() -> None:
    """dev, test and the G2P hold-out (32 polyphone sentences) exist; nothing else."""
    assert "zh_eval" in EVAL_CORPORA
    assert len(load_eval("zh_eval", "g2p_holdout")) == 32
    with pytest.raises(ValueError, match="split"):
        load_eval("zh_eval", "train")


@pytest.mark.parametrize(
    ("char", "got", "ref", "kind"),
    [
        ("行", "hang2", Char("行", "hang2", "hang2", True), None),
        ("得", "de2", Char("得", "de5", "de5", True), "polyphone"),
        ("儿", "er2", Char("儿", "er2", ERHUA_MARK, False), "erhua"),
        ("一", "yi1", Char("一", "yi1", "yi4", False), "yi/bu sandhi"),
        ("子", "zi3", Char("子", "zi3", "zi5", False), "neutral tone"),
        ("你", "ni3", Char("你", "ni3", "ni2", False), "third-tone sandhi"),
        ("九", "jiu2", Char("九", "jiu3", "jiu3", False), "numbers"),
    ],
)
def test_classify(char: str, got: str, ref: Char, kind: str | None) -> None:
    """Each disagreement lands in its class; agreement is no disagreement."""
    assert classify(char, got, ref) == kind


def test_gold_follows_its_character_through_normalisation() -> None:
    """An annotation is carried to the same occurrence of its character after digits become words."""
    text, readings = parse_annotated("他在2号行[hang2]工作")
    sentence = load_eval("zh_eval", "dev")[0].__class__("x", "t", text, readings)
    assert map_gold(sentence, "他在二号行工作") == {4: "hang2"}


def test_audit_counts_misakis_polyphone_errors_and_the_fix_removes_them() -> None:
    """On polyphone sentences the baseline reproduces misaki and disagrees on 得/地; the fixes agree."""
    sentences = [s for s in load_eval("zh_eval", "dev") if s.id in {"dialogue-06", "prose-18"}]
    reference = Reference()
    before = audit(sentences, ZhG2P(fixes=False), reference, check=True)
    after = audit(sentences, ZhG2P(), reference, check=False)
    assert before.mismatched_runs == 0
    assert before.by_char("polyphone") == Counter({"得": 1, "地": 1})
    assert after.count("polyphone") == 0

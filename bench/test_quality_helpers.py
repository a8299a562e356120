"""Fast checks of the quality bench's scoring, corpora and report (no models loaded).

Run with ``.venv/bin/python -m pytest bench/test_quality_helpers.py -q -p no:cacheprovider``.
"""

from __future__ import annotations

import pytest

from _corpus import CORPORA, load_sentences
from _dnsmos import MosScores
from _metrics import ErrorRate, Scorer, metric_name
from _report import CaseResult, pool, render_table, target_misses
from quality import plan_cases
from voxgate.engines.registry import build_engines
from voxgate.settings import Settings


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    return Scorer()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("It's easy to tell the depth of a well.", "its easy to tell the depth of a well"),
        ("4 hours of steady work, faced us!", "four hours of steady work faced us"),
        ("The girl sold 50 bonds.", "the girl sold fifty bonds"),
        ("the 1st of 3,000 men", "the first of three thousand men"),
        ("Twenty-one", "twenty one"),
        ("The man’s fall", "the mans fall"),
    ],
)
def test_english_normalisation(scorer, text, expected):
    """English is lower-cased, numbers spelled out, apostrophes and punctuation dropped."""
    assert scorer.normalise(text, "en") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("這雙鞋一共一百塊, 可以便宜一點嗎?", "这双鞋1共100块可以便宜1点吗"),
        ("这双鞋一共100块，可以便宜一点吗？", "这双鞋1共100块可以便宜1点吗"),
        ("我今年二十五歲。", "我今年25岁"),
        ("下午３点 见", "下午3点见"),
        ("我买了两斤西红柿", "我买了2斤西红柿"),
    ],
)
def test_chinese_normalisation(scorer, text, expected):
    """Chinese becomes simplified, numerals become digits, punctuation and spaces go."""
    assert scorer.normalise(text, "zh") == expected


def test_digits_and_words_score_equal(scorer):
    """A transcript writing digits for spelled-out numbers is not penalised."""
    refs = ["Four hours of steady work faced us.", "Two blue fish swam in the tank."]
    assert (
        scorer.error_rate(
            refs, ["4 hours of steady work faced us", "2 blue fish swam in the tank"], "en"
        ).errors
        == 0
    )


def test_word_error_rate_counts_corpus_edits(scorer):
    """WER sums substitutions, deletions and insertions over the corpus reference length."""
    result = scorer.error_rate(["the box was thrown", "read verse"], ["the fox was thrown away", ""], "en")
    assert result == ErrorRate(errors=1 + 1 + 2, reference_length=6)
    assert result.rate == pytest.approx(4 / 6)


def test_character_error_rate_across_scripts(scorer):
    """CER compares characters after mapping traditional to simplified."""
    result = scorer.error_rate(["请问地铁站怎么走？"], ["請問地鐵站怎麼做"], "zh")
    assert result == ErrorRate(errors=1, reference_length=8)


def test_error_rate_rejects_mismatched_lists(scorer):
    """References and hypotheses must pair up one to one."""
    with pytest.raises(ValueError, match="2 references but 1"):
        scorer.error_rate(["a", "b"], ["a"], "en")


def test_error_rate_rejects_unknown_language(scorer):
    """Only languages with a corpus have scoring rules."""
    with pytest.raises(ValueError, match="no scoring rules"):
        scorer.error_rate(["bonjour"], ["bonjour"], "fr")


def test_corpora_have_the_specified_sizes():
    """Harvard lists 1-3 hold 30 sentences; the Chinese set at least 30 of 8-25 characters."""
    harvard = load_sentences(CORPORA["en"])
    chinese = load_sentences(CORPORA["zh"])
    assert len(harvard) == 30
    assert harvard[0] == "The birch canoe slid on the smooth planks."
    assert len(chinese) >= 30
    assert all(8 <= len(s) <= 25 for s in chinese)
    assert sum(any(c.isdigit() for c in s) for s in chinese) >= 3


def test_load_sentences_limit():
    """``limit`` keeps the first sentences in file order."""
    assert load_sentences(CORPORA["en"], limit=2) == load_sentences(CORPORA["en"])[:2]


def _result(
    engine: str, language: str, errors: int, *, voice: str = "v", scores: tuple[MosScores, ...] = ()
) -> CaseResult:
    return CaseResult(
        engine=engine,
        voice=voice,
        language=language,
        sentences=2,
        failures=0,
        error=ErrorRate(errors, 100),
        scores=scores,
        synth_seconds=0.4,
        audio_seconds=10.0,
        transcripts=(("ref", "hyp"),),
    )


def test_table_shows_metric_per_language():
    """The table labels English rows WER and Chinese rows CER, with a dash when DNSMOS was skipped."""
    table = render_table(
        [_result("piper", "en", 5), _result("kokoro", "zh", 7, scores=(MosScores(3.0, 3.5),))]
    )
    assert "| piper | v | en | 2 | WER 5.0 | – | – | 0.040 |" in table
    assert "| kokoro | v | zh | 2 | CER 7.0 | 3.00 | 3.50 | 0.040 |" in table
    assert metric_name("zh") == "CER"


def test_pool_sums_errors_and_averages_scores_over_voices():
    """Voices of one engine and language pool into one row: summed edits, mean DNSMOS, summed time."""
    a = _result("kokoro", "zh", 4, voice="a", scores=(MosScores(3.0, 4.0),))
    b = _result("kokoro", "zh", 8, voice="b", scores=(MosScores(4.0, 3.0), MosScores(3.5, 3.5)))
    [pooled] = pool([a, b])
    assert pooled.voice == "all 2 voices"
    assert pooled.error == ErrorRate(12, 200)
    assert pooled.mos_overall == pytest.approx(3.5)
    assert pooled.rtf == pytest.approx(0.04)
    assert len(pooled.transcripts) == 2
    assert "| kokoro | *all 2 voices* | zh | 4 | CER 6.0 |" in render_table([a, b])


@pytest.mark.parametrize(
    ("engine", "language", "errors", "missed"),
    [
        ("piper", "en", 10, False),
        ("piper", "en", 11, True),
        ("kokoro", "zh", 11, True),
        ("espeak", "zh", 70, False),
    ],
)
def test_targets(engine, language, errors, missed):
    """piper English and kokoro Chinese must stay at or under 10 %; other rows have no target."""
    assert bool(target_misses([_result(engine, language, errors)])) is missed


def test_target_is_judged_on_pooled_voices():
    """One weak voice fails the target only when it drags the engine's pooled rate over the limit."""
    weak, good = _result("kokoro", "zh", 14, voice="a"), _result("kokoro", "zh", 4, voice="b")
    assert target_misses([weak, good]) == []
    assert target_misses([weak, _result("kokoro", "zh", 8, voice="b")]) == [
        "kokoro/all 2 voices/zh CER 11.0 % > 10 %"
    ]


def test_default_plan_covers_the_specified_voices():
    """Default run: piper joe (en), five kokoro voices (zh) plus one (en), espeak en-us and cmn."""
    cases = plan_cases(build_engines(Settings()), ["en", "zh"], None)
    got = {(c.engine, c.voice, c.language) for c in cases}
    kokoro_zh = {c.voice for c in cases if c.engine == "kokoro" and c.language == "zh"}
    assert len(kokoro_zh) == 5
    assert len([c for c in cases if c.engine == "kokoro" and c.language == "en"]) == 1
    assert {("piper", "joe", "en"), ("espeak", "espeak-en-us", "en"), ("espeak", "espeak-cmn", "zh")} <= got
    assert len(cases) == 9


def test_explicit_voices_read_every_bench_language_they_can():
    """``--voices`` measures each named voice in every bench language it reads, and rejects unknown ones."""
    engines = build_engines(Settings())
    cases = plan_cases(engines, ["en", "zh"], ["jm_kumo", "espeak-en-gb"])
    assert {(c.voice, c.language) for c in cases} == {
        ("jm_kumo", "en"),
        ("jm_kumo", "zh"),
        ("espeak-en-gb", "en"),
    }
    with pytest.raises(ValueError, match="nobody"):
        plan_cases(engines, ["en"], ["nobody"])

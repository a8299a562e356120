"""Fast checks of the quality bench's scoring, corpora and report (no models loaded).

Run with ``scripts/check bench/test_quality_helpers.py`` (needs ``scripts/setup bench``).
"""

from __future__ import annotations

import dataclasses
import re

import pytest

from _corpus import CORPORA, load_eval, load_sentences
from _dnsmos import MosScores
from _metrics import ErrorRate, Scorer, metric_name, spoken_form
from _report import CaseResult, pool, pool_trials, render_registers, render_table, target_misses
from _stats import Interval, SentenceError, bootstrap_interval, paired_difference
from quality import corpus_sentences, default_trials, parse_args, plan_cases
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
def test_chinese_normalisation_written(text, expected):
    """The written scheme: Chinese becomes simplified, numerals become digits, punctuation and spaces go."""
    assert Scorer("written").normalise(text, "zh") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("這雙鞋一共一百塊, 可以便宜一點嗎?", "这双鞋一共一百块可以便宜一点吗"),
        ("这双鞋一共100块，可以便宜一点吗？", "这双鞋一共一百块可以便宜一点吗"),
        ("活动时间为下午2:30。", "活动时间为下午两点三十分"),
        ("活動時間為下午兩點三十分", "活动时间为下午两点三十分"),
        ("晚上7.30分开始", "晚上七点三十分开始"),
        ("面积是20m²。", "面积是二十平方米"),
        ("面积是 20平方米", "面积是二十平方米"),
        ("共计¥68.5", "共计六十八点五元"),
        ("共計68.5元", "共计六十八点五元"),
        ("下午３点 见", "下午三点见"),
        ("他在 Google 工作", "他在google工作"),
        ("她著急地說", "他着急的说"),
    ],
)
def test_chinese_normalisation_compares_spoken_forms(scorer, text, expected):
    """The default scheme: both sides spoken as voxgate's normaliser reads them, variants folded."""
    assert scorer.normalise(text, "zh") == expected


def test_notation_is_not_an_error_but_a_wrong_number_is(scorer):
    """A time, unit or price written differently by the recogniser scores 0; another number does not."""
    refs = ["活动时间为下午2:30。", "这个房间的面积是20m²。", "您本次消费共计¥68.5，请问怎么支付？"]
    heard = ["活動時間為下午兩點三十分", "这个房间的面积是20平方米。", "您本次消費共計68.5元,請問怎麼支付。"]
    assert scorer.error_rate(refs, heard, "zh").errors == 0
    assert Scorer("written").error_rate(refs, heard, "zh").errors > 0
    assert scorer.error_rate(["他考了98分"], ["他考了89分"], "zh").errors == 2


def test_pinyin_error_rate_forgives_homophones_but_not_other_syllables(scorer):
    """PER counts syllables: 性/姓 (both xing) is no error, 车/这 is one; tones count only when asked."""
    assert scorer.syllables("我姓王，用iPhone。") == ["wo", "xing", "wang", "yong", "iphone"]
    assert scorer.syllable_errors(["我姓王"], ["我性王"]) == [ErrorRate(0, 3)]
    assert scorer.syllable_errors(["这本书"], ["车本书"]) == [ErrorRate(1, 3)]
    assert scorer.syllable_errors(["他买了两本书"], ["他卖了两本书"]) == [ErrorRate(0, 6)]
    assert scorer.syllable_errors(["他买了两本书"], ["他卖了两本书"], tones=True) == [ErrorRate(1, 6)]
    assert scorer.syllable_errors(["面积20m²"], ["面积二十平方米"]) == [ErrorRate(0, 7)]


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


@pytest.mark.parametrize(
    ("language", "references", "hypotheses"),
    [
        (
            "en",
            ["the box was thrown", "read verse", "The 2 blue fish swam.", "a small cup"],
            ["the fox was thrown away", "", "two blue fish", "the cup was small and cold"],
        ),
        (
            "zh",
            ["请问地铁站怎么走？", "我今年二十五岁。", "这双鞋可以便宜一点吗"],
            ["請問地鐵站怎麼做了", "我今年25", "这鞋可以很便宜一点吗吗"],
        ),
    ],
)
def test_sentence_errors_sum_to_the_corpus_figure(scorer, language, references, hypotheses):
    """Per-sentence edits and lengths add up to the corpus-level WER/CER counts."""
    parts = scorer.sentence_errors(references, hypotheses, language)
    assert len(parts) == len(references)
    assert ErrorRate.total(parts) == scorer.error_rate(references, hypotheses, language)
    assert all(p.errors > 0 for p in parts)


def test_sentence_errors_are_counted_per_sentence(scorer):
    """Each sentence gets its own substitutions, deletions and insertions over its own length."""
    parts = scorer.sentence_errors(
        ["the box was thrown", "read verse"], ["the fox was thrown away", ""], "en"
    )
    assert parts == [ErrorRate(2, 4), ErrorRate(2, 2)]
    assert scorer.sentence_errors([], [], "en") == []


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
    engine: str,
    language: str,
    errors: int,
    *,
    voice: str = "v",
    scores: tuple[MosScores, ...] = (),
    failures: int = 0,
) -> CaseResult:
    """One trial over two sentences of 50 units each, ``errors`` split between them."""
    return CaseResult(
        engine=engine,
        voice=voice,
        language=language,
        sentences=2,
        trials=1,
        failures=failures,
        sentence_errors=(
            SentenceError(0, ErrorRate(errors // 2, 50)),
            SentenceError(1, ErrorRate(errors - errors // 2, 50)),
        ),
        scores=scores,
        synth_seconds=0.4,
        audio_seconds=10.0,
        transcripts=(("ref", "hyp"),),
    )


def _readings(errors: list[int], *, length: int = 10, repeat: int = 1) -> list[SentenceError]:
    """``repeat`` copies of a corpus whose sentence i has ``errors[i]`` edits over ``length`` units."""
    pattern = errors * repeat
    return [SentenceError(i, ErrorRate(e, length)) for i, e in enumerate(pattern)]


_MIXED = [0, 1, 3, 0, 2, 5, 0, 1, 0, 4]


def test_interval_contains_the_point_estimate():
    """The bootstrap interval of a varied corpus is a proper range around the pooled rate."""
    readings = _readings(_MIXED, repeat=3)
    rate = ErrorRate.total(r.error for r in readings).rate
    interval = bootstrap_interval(readings)
    assert interval is not None
    assert interval.low < rate < interval.high


def test_interval_is_degenerate_when_every_sentence_has_the_same_rate():
    """Sentences of different lengths but one error rate leave nothing to resample: low == high == rate."""
    readings = [SentenceError(i, ErrorRate(i + 1, 10 * (i + 1))) for i in range(6)]
    assert bootstrap_interval(readings) == Interval(0.1, 0.1)


def test_interval_widens_with_fewer_sentences():
    """The same mix of sentence error rates over a fifth of the sentences gives a wider interval."""
    wide = bootstrap_interval(_readings(_MIXED))
    narrow = bootstrap_interval(_readings(_MIXED, repeat=5))
    assert wide is not None
    assert narrow is not None
    assert wide.high - wide.low > 1.5 * (narrow.high - narrow.low)


def test_interval_keeps_the_trials_of_a_sentence_together():
    """Readings of one sentence are resampled as one unit, exactly as if summed beforehand."""
    trials = [
        SentenceError(0, ErrorRate(3, 10)),
        SentenceError(1, ErrorRate(0, 8)),
        SentenceError(2, ErrorRate(1, 12)),
        SentenceError(0, ErrorRate(1, 10)),
        SentenceError(1, ErrorRate(2, 8)),
        SentenceError(2, ErrorRate(0, 12)),
    ]
    summed = [
        SentenceError(0, ErrorRate(4, 20)),
        SentenceError(1, ErrorRate(2, 16)),
        SentenceError(2, ErrorRate(1, 24)),
    ]
    assert bootstrap_interval(trials) == bootstrap_interval(summed)
    assert bootstrap_interval(trials) != bootstrap_interval([*summed, SentenceError(3, ErrorRate(0, 8))])


def test_interval_is_reproducible_and_undefined_without_data():
    """A fixed seed gives the same interval every time; no readings give none."""
    assert bootstrap_interval(_readings(_MIXED)) == bootstrap_interval(_readings(_MIXED))
    assert bootstrap_interval([]) is None
    with pytest.raises(ValueError, match="level"):
        bootstrap_interval(_readings(_MIXED), level=1.0)


def test_pool_trials_sums_runs_of_one_case():
    """Trials of one case pool into one result: summed edits, failures and time, all readings kept."""
    first = _result("piper", "en", 6, scores=(MosScores(3.0, 4.0),))
    second = _result("piper", "en", 14, failures=1, scores=(MosScores(4.0, 3.0),))
    pooled = pool_trials([first, second])
    assert (pooled.trials, pooled.sentences, pooled.failures) == (2, 2, 1)
    assert pooled.error == ErrorRate(20, 200)
    assert [s.index for s in pooled.sentence_errors] == [0, 1, 0, 1]
    assert pooled.mos_overall == pytest.approx(3.5)
    assert pooled.synth_seconds == pytest.approx(0.8)
    assert pooled.rtf == pytest.approx(0.04)
    assert len(pooled.transcripts) == 2
    assert pool_trials([pooled, first]).trials == 3


def test_pool_trials_rejects_different_cases():
    """Only runs of the same engine, voice and language pool as trials."""
    with pytest.raises(ValueError, match="different cases"):
        pool_trials([_result("piper", "en", 6), _result("piper", "en", 6, voice="w")])
    with pytest.raises(ValueError, match="no trials"):
        pool_trials([])


def test_pool_rejects_voices_with_different_trial_counts():
    """A pooled row over voices needs every voice measured with the same number of trials."""
    once = _result("kokoro", "zh", 4, voice="a")
    twice = pool_trials([_result("kokoro", "zh", 4, voice="b")] * 2)
    with pytest.raises(ValueError, match="trial counts"):
        pool([once, twice])


def test_trials_must_be_positive():
    """``--trials`` defaults to one pass and refuses zero."""
    assert parse_args([]).trials == 1
    assert parse_args(["--trials", "3"]).trials == 3
    with pytest.raises(SystemExit):
        parse_args(["--trials", "0"])


def test_table_shows_metric_per_language():
    """The table labels English rows WER and Chinese rows CER, with a dash when DNSMOS was skipped."""
    table = render_table(
        [_result("piper", "en", 5), _result("kokoro", "zh", 7, scores=(MosScores(3.0, 3.5),))]
    )
    # sentences at 4 % and 6 % (piper), 6 % and 8 % (kokoro): a resample holds one, the other or both
    assert "| piper | v | en | 2 | 1 | WER 5.0 | 4.0–6.0 % | – | – | 0.040 |" in table
    assert "| kokoro | v | zh | 2 | 1 | CER 7.0 | 6.0–8.0 % | 3.00 | 3.50 | 0.040 |" in table
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
    assert "| kokoro | *all 2 voices* | zh | 4 | 1 | CER 6.0 | 6.0–6.0 % |" in render_table([a, b])


def test_table_shows_trials_and_failed_syntheses():
    """A case run three times shows its trial count and the syntheses that failed in any trial."""
    runs = [_result("piper", "en", 6), _result("piper", "en", 10, failures=1), _result("piper", "en", 8)]
    assert "| piper | v | en | 2 (1 failed) | 3 | WER 8.0 |" in render_table([pool_trials(runs)])


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
        "kokoro/all 2 voices/zh CER 11.0 % (95 % CI 11.0–11.0 %, 1 trial) > 10 %"
    ]


def test_target_miss_reports_the_interval_and_trials():
    """A miss is judged on the pooled rate and its message carries the bootstrap interval and trials."""
    runs = pool_trials([_result("piper", "en", 8), _result("piper", "en", 15)])
    # sentence 0 read with 4 + 7 errors, sentence 1 with 4 + 8, each over 2 x 50 words
    assert target_misses([runs]) == ["piper/v/en WER 11.5 % (95 % CI 11.0–12.0 %, 2 trials) > 10 %"]


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


def test_eval_corpus_arguments():
    """``--corpus zh_eval`` needs ``--split``, reads Chinese only; trials per engine unless told otherwise."""
    args = parse_args(["--corpus", "zh_eval", "--split", "dev"])
    assert (args.languages, args.trials) == (["zh"], None)
    assert parse_args(["--corpus", "en_eval", "--split", "dev"]).languages == ["en"]
    assert parse_args(["--corpus", "zh_eval", "--split", "test", "--trials", "5"]).trials == 5
    assert parse_args([]).trials == 1
    for bad in (["--corpus", "zh_eval"], ["--split", "dev"], ["--corpus", "zh_eval", "--split", "train"]):
        with pytest.raises(SystemExit):
            parse_args(bad)


def test_corpus_trials_default_to_one_for_kokoro_and_three_for_piper():
    """kokoro repeats itself exactly, so one trial; piper samples noise, so three; default sets one."""
    assert default_trials("kokoro", "zh_eval") == 1
    assert default_trials("piper", "en_eval") == 3
    assert default_trials("piper", None) == 1


def test_the_english_corpus_is_split_like_the_chinese_one():
    """en_eval: 170 sentences, ten registers in both splits, k % 5 in (2, 4) in test, no repeats."""
    dev, test = load_eval("en_eval", "dev"), load_eval("en_eval", "test")
    assert (len(dev), len(test)) == (100, 70)
    assert {s.register for s in dev} == {s.register for s in test}
    assert len({s.register for s in dev}) == 10
    assert all(int(s.id.split("-")[1]) % 5 in (2, 4) for s in test)
    texts = [s.text for s in (*dev, *test)]
    assert len(set(texts)) == len(texts)


def test_corpus_sentences_reads_one_split_without_annotations():
    """The eval split's sentences replace the default Chinese set, reading annotations stripped."""
    dev = corpus_sentences("zh_eval", "dev", ["zh"], None)
    assert list(dev) == ["zh"]
    assert len(dev["zh"]) == 209
    assert not any("[" in s for s in dev["zh"])
    assert len(corpus_sentences("zh_eval", "test", ["zh"], 5)["zh"]) == 5
    assert corpus_sentences(None, None, ["en"], 2)["en"] == load_sentences(CORPORA["en"], 2)


def test_blends_are_measured_like_voices():
    """``--voices`` takes kokoro blends and measures them in every language kokoro reads."""
    cases = plan_cases(build_engines(Settings()), ["zh"], ["jm_kumo", "jf_alpha:0.6+jm_kumo:0.4"])
    blend = "jf_alpha:0.6+jm_kumo:0.4"
    assert {(c.engine, c.voice) for c in cases} == {("kokoro", "jm_kumo"), ("kokoro", blend)}


def test_render_registers_splits_the_error_rate_by_register():
    """Each register's cell pools the errors of its sentences (here 0/50 and 10/50)."""
    result = dataclasses.replace(
        _result("kokoro", "zh", 10, voice="jm_kumo"),
        sentence_errors=(SentenceError(0, ErrorRate(0, 50)), SentenceError(1, ErrorRate(10, 50))),
    )
    table = render_registers([result], ["news", "ivr"])
    assert table.splitlines()[0] == "| voice | news | ivr |"
    assert table.splitlines()[2] == "| jm_kumo | 0.0 | 20.0 |"


def test_every_corpus_sentence_has_a_spoken_form_without_notation():
    """Scoring compares spoken forms: the normaliser must spell out every digit and symbol of both corpora."""
    notation = re.compile(r"[0-9¥$€£%‰:²³@#&/]")
    for corpus, language in (("zh_eval", "zh"), ("en_eval", "en")):
        for split in ("dev", "test"):
            for sentence in load_eval(corpus, split):
                spoken = spoken_form(sentence.text, language)
                assert not notation.search(spoken), (sentence.id, spoken)
    assert spoken_form("½杯水，25℃", "zh") == "二分之一杯水，二十五摄氏度"
    assert spoken_form("", "zh") == ""


def test_a_paired_difference_uses_the_sentences_read_both_ways_and_is_narrower_than_two_intervals():
    """Hard sentences are hard both ways: pairing cancels that spread, leaving the small steady gain."""
    hardness = [0, 9, 1, 7, 2, 8, 0, 6, 3, 9, 1, 5]
    base = [SentenceError(i, ErrorRate(h + 1, 20)) for i, h in enumerate(hardness)]
    other = [SentenceError(i, ErrorRate(h, 20)) for i, h in enumerate(hardness)]
    other.append(SentenceError(99, ErrorRate(20, 20)))  # read one way only: left out
    paired = paired_difference(base, other)
    assert paired is not None
    assert (paired.sentences, paired.better, paired.worse) == (12, 12, 0)
    assert paired.difference == pytest.approx(-1 / 20)
    assert paired.interval is not None
    assert paired.interval.high < 0
    separate = bootstrap_interval(base)
    assert separate is not None
    assert paired.interval.high - paired.interval.low < (separate.high - separate.low) / 3
    assert paired_difference(base, [SentenceError(99, ErrorRate(1, 20))]) is None

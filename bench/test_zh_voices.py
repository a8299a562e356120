"""bench/zh_voices.py without models: blend grid, ranking, verdict, the resumable store behind the stages."""

from __future__ import annotations

from dataclasses import replace

import pytest

from _corpus import load_eval
from _metrics import ErrorRate
from _report import CaseResult, pool_trials
from _stats import SentenceError
from _zh_store import (
    DEFAULT_VARIANT,
    Reading,
    Store,
    StoreBusyError,
    Variant,
    case_result,
    fingerprint,
    interleave,
    pending,
)
from zh_voices import (
    DEFAULT_STORE,
    IncompleteError,
    Plan,
    Verdict,
    blend_grid,
    blend_voices,
    decide,
    parse_args,
    rank,
    render_report,
    report_scoring,
    spread_limit,
    upper_bound,
    verdict,
    voices_for_test,
)


def _result(voice: str, errors: list[int], length: int = 20) -> CaseResult:
    """One trial of a corpus whose sentence i has ``errors[i]`` edits over ``length`` characters."""
    return CaseResult(
        engine="kokoro",
        voice=voice,
        language="zh",
        sentences=len(errors),
        trials=1,
        failures=0,
        sentence_errors=tuple(SentenceError(i, ErrorRate(e, length)) for i, e in enumerate(errors)),
        scores=(),
        synth_seconds=1.0,
        audio_seconds=2.0,
        transcripts=(),
    )


def test_blend_grid_pairs_every_two_voices_at_each_weight():
    """Three voices and three weights give 3 pairs x 3 blends, weights summing to 1."""
    grid = blend_grid(["a", "b", "c"], [0.3, 0.5, 0.7])
    assert len(grid) == 9
    assert grid[:3] == ["a:0.3+b:0.7", "a:0.5+b:0.5", "a:0.7+b:0.3"]
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        blend_grid(["a", "b"], [1.0])


def test_rank_prefers_the_lower_upper_bound_over_the_lower_point_estimate():
    """A steady voice beats one with a slightly lower mean but a wide interval."""
    steady = _result("steady", [2] * 20)
    erratic = _result("erratic", [0] * 15 + [7] * 5)
    assert erratic.error.rate < steady.error.rate
    assert upper_bound(steady) < upper_bound(erratic)
    assert [r.voice for r in rank([erratic, steady])] == ["steady", "erratic"]


def test_verdict_keeps_a_blend_only_if_it_beats_every_single_voice_on_test():
    """A blend that loses to any single voice on test gives way to the safest single voice."""
    singles = [_result("a", [2] * 10), _result("b", [3] * 10)]
    assert verdict(_result("a:0.5+b:0.5", [1] * 10), singles).kept_blend
    lost = verdict(_result("a:0.5+b:0.5", [2] * 10), singles)
    assert (lost.choice, lost.kept_blend) == ("a", False)
    assert verdict(singles[1], singles).choice == "b"


# --- the resumable store (bench/_zh_store.py) and the stage logic over it ---

MODEL = "kokoro-test/0"
DEV = tuple(f"句子{i}。" for i in range(6))
TEST = tuple(f"测试{i}。" for i in range(4))


def _reading(voice: str, split: str, trial: int, index: int, text: str, errors: int, **kw) -> Reading:
    """A stored reading of ``text`` (10 reference characters) with ``errors`` edits."""
    variant = kw.pop("variant", DEFAULT_VARIANT)
    return Reading(
        key=fingerprint(voice, split, trial, text, variant, MODEL),
        voice=voice,
        split=split,
        trial=trial,
        index=index,
        text=text,
        fixes=variant.fixes,
        sandhi=variant.sandhi,
        speed=variant.speed,
        model=MODEL,
        transcript="听到的",
        errors=errors,
        length=10,
        audio_s=2.0,
        synth_s=1.0,
        **kw,
    )


def _fill(store: Store, voice: str, split: str, sentences: tuple[str, ...], errors: int, trials: int = 2):
    """Store every (trial, sentence) reading of one case, each with ``errors`` edits."""
    with store.writing():
        for trial in range(1, trials + 1):
            for i, text in enumerate(sentences):
                store.append(_reading(voice, split, trial, i, text, errors))


def test_fingerprint_changes_with_everything_that_changes_a_result():
    """Voice, split, trial, text, fixes, sandhi and model each change the key; equal inputs keep it."""
    base = ("jf_alpha", "dev", 1, "你好。", Variant(), MODEL)
    key = fingerprint(*base)
    assert fingerprint(*base) == key
    changed = [
        ("jm_kumo", "dev", 1, "你好。", Variant(), MODEL),
        ("jf_alpha", "test", 1, "你好。", Variant(), MODEL),
        ("jf_alpha", "dev", 2, "你好。", Variant(), MODEL),
        ("jf_alpha", "dev", 1, "您好。", Variant(), MODEL),
        ("jf_alpha", "dev", 1, "你好。", Variant(fixes=False), MODEL),
        ("jf_alpha", "dev", 1, "你好。", Variant(sandhi=True), MODEL),
        ("jf_alpha", "dev", 1, "你好。", Variant(speed=0.85), MODEL),
        ("jf_alpha", "dev", 1, "你好。", Variant(), "kokoro-test/1"),
    ]
    assert len({key, *(fingerprint(*c) for c in changed)}) == len(changed) + 1
    # pace 1 is the first runs' front end: its keys are the keys they were stored under
    assert fingerprint("jf_alpha", "dev", 1, "你好。", Variant(speed=1.0), MODEL) == key


def test_a_reading_at_another_pace_round_trips_and_a_pace_1_line_keeps_its_old_shape():
    """``speed`` is written only when it is not 1, and read back; old lines read as pace 1."""
    slow = _reading("a", "dev", 1, 0, "你好。", 1, variant=Variant(speed=0.85))
    assert '"speed":0.85' in slow.to_line()
    assert Reading.from_line(slow.to_line()) == slow
    plain = _reading("a", "dev", 1, 0, "你好。", 1)
    assert "speed" not in plain.to_line()
    assert Reading.from_line(plain.to_line()).speed == 1.0


def test_a_rerun_skips_what_is_stored_and_goes_on_voice_major(tmp_path):
    """Stored readings survive a reload and are not pending again; the rest come voice by voice."""
    store = Store(tmp_path)
    with store.writing():
        store.append(_reading("a", "dev", 1, 0, DEV[0], 1))
        store.append(_reading("a", "dev", 2, 3, DEV[3], 1))
    again = Store(tmp_path)
    assert len(again.readings) == 2
    jobs = list(pending(again, ["a", "b"], "dev", DEV, 2, DEFAULT_VARIANT, MODEL))
    assert len(jobs) == 2 * 2 * len(DEV) - 2
    assert [j.voice for j in jobs] == ["a"] * 10 + ["b"] * 12
    assert (jobs[0].trial, jobs[0].index) == (1, 1)
    assert (1, 0) not in {(j.trial, j.index) for j in jobs if j.voice == "a"}
    assert next(iter(pending(again, ["a"], "dev", DEV, 2, Variant(sandhi=True), MODEL))).index == 0


def test_a_torn_last_line_is_ignored_and_sealed_before_the_next_append(tmp_path):
    """A run killed mid-write leaves half a line: reload skips it and the next record stays whole."""
    good = _reading("a", "dev", 1, 0, DEV[0], 1).to_line()
    (tmp_path / "readings.jsonl").write_text(good + good[: len(good) // 2], encoding="utf-8")
    store = Store(tmp_path)
    assert (len(store.readings), store.skipped_lines) == (1, 1)
    with store.writing():
        store.append(_reading("a", "dev", 1, 1, DEV[1], 2))
    again = Store(tmp_path)
    assert (len(again.readings), again.skipped_lines) == (2, 1)


def test_only_one_process_appends_to_a_store(tmp_path):
    """A second writer is refused while the first holds the store (two runs would duplicate work)."""
    first, second = Store(tmp_path), Store(tmp_path)
    with first.writing(), pytest.raises(StoreBusyError), second.writing():
        pass
    with second.writing():
        second.append(_reading("a", "dev", 1, 0, DEV[0], 1))


def test_a_case_from_the_store_pools_as_quality_py_pools_its_trials(tmp_path):
    """The stored readings give exactly pool_trials of per-trial results; incomplete cases give None."""
    store = Store(tmp_path)
    with store.writing():
        for trial, errs in ((1, [0, 1, 2, 3, 4, 5]), (2, [1, 1, 1, 1, 1, 1])):
            for i, text in enumerate(DEV):
                store.append(_reading("a", "dev", trial, i, text, errs[i], ovrl=3.0, p808=4.0))
    got = case_result(store, "a", "dev", DEV, 2, DEFAULT_VARIANT, MODEL)
    want = pool_trials(
        [
            _result("a", [0, 1, 2, 3, 4, 5], length=10),
            _result("a", [1, 1, 1, 1, 1, 1], length=10),
        ]
    )
    assert got is not None
    assert (got.error, got.interval, got.trials, got.sentences) == (want.error, want.interval, 2, 6)
    assert got.mos_overall == 3.0
    assert case_result(store, "a", "dev", DEV, 3, DEFAULT_VARIANT, MODEL) is None
    partial = case_result(store, "a", "dev", DEV, 3, DEFAULT_VARIANT, MODEL, partial=True)
    assert partial is not None
    assert partial.error == want.error


def test_stages_follow_the_store_from_dev_to_the_verdict(tmp_path):
    """Blends wait for every dev single; the top voices are blended; the test verdict and report follow."""
    store = Store(tmp_path)
    plan = Plan(singles=("a", "b", "c"), dev=DEV, test=TEST, trials=2, model=MODEL, top=2, weights=(0.5,))
    _fill(store, "a", "dev", DEV, 1)
    _fill(store, "b", "dev", DEV, 3)
    with pytest.raises(IncompleteError, match="c on dev: 0 of 12"):
        blend_voices(store, plan)
    assert "In progress" not in render_report(store, plan, ["news"] * len(DEV), {})
    _fill(store, "c", "dev", DEV, 2)
    assert blend_voices(store, plan) == ["a:0.5+c:0.5"]
    _fill(store, "a:0.5+c:0.5", "dev", DEV[:3], 0, trials=1)  # a partial blend: no candidate yet
    assert "In progress" in render_report(store, plan, ["news"] * len(DEV), {})
    _fill(store, "a:0.5+c:0.5", "dev", DEV, 0)
    assert voices_for_test(store, plan) == ["a:0.5+c:0.5", "a", "b", "c"]
    for voice, errors in (("a:0.5+c:0.5", 0), ("a", 1), ("b", 3), ("c", 2)):
        _fill(store, voice, "test", TEST, errors)
    assert decide(store, plan) == Verdict(
        "a:0.5+c:0.5", True, "the dev winner, a blend, beats every single voice on test"
    )
    report = render_report(store, plan, ["news"] * len(DEV), {"a": 0.25})
    assert "**Default Chinese voice: a:0.5+c:0.5**" in report
    assert "| 0.250 |" in report  # the separately measured RTF replaces the stored ratio


def test_variant_flags_select_the_front_end_of_every_stage():
    """--g2p-fixes off / --sandhi on reach the variant; a bad value or weight is a usage error."""
    args = parse_args(["--g2p-fixes", "off", "--sandhi", "on", "--stage", "dev"])
    assert (args.g2p_fixes, args.sandhi, args.stage) == (False, True, "dev")
    assert parse_args([]).store == DEFAULT_STORE
    assert parse_args([]).trials == 1
    with pytest.raises(SystemExit):
        parse_args(["--sandhi", "maybe"])
    with pytest.raises(SystemExit):
        parse_args(["--weights", "1.5"])


def test_the_report_sets_a_voices_front_end_variants_beside_its_shipped_figure(tmp_path):
    """Readings with the fixes off, or at another pace, get paired rows of their own, not the main tables'."""
    store = Store(tmp_path)
    plan = Plan(singles=("a", "b"), dev=DEV, test=TEST, trials=1, model=MODEL)
    _fill(store, "a", "dev", DEV, 1, trials=1)
    with store.writing():
        for i, text in enumerate(DEV):
            store.append(_reading("a", "dev", 1, i, text, 4, variant=Variant(fixes=False)))
        # the slower pace read only the first two sentences so far, with no errors
        for i, text in enumerate(DEV[:2]):
            store.append(_reading("a", "dev", 1, i, text, 0, variant=Variant(speed=0.85)))
    report = render_report(store, plan, ["news"] * len(DEV), {})
    n = len(DEV)
    fixes_off = (
        f"| a | dev | fixes off, sandhi off | {n} | 10.0 | 40.0 | +30.0 (+30.0 to +30.0) | 0 / {n} | 1.00× |"
    )
    assert fixes_off in report
    slower = "| a | dev | fixes on, sandhi off, pace 0.85 | 2 | 10.0 | 0.0 | -10.0 (-10.0 to -10.0) | 2 / 0 |"
    assert slower in report
    assert "CER 10.0" in report  # the main table keeps the shipped front end's figure


def test_a_stopped_run_holds_every_register_not_just_the_first():
    """Sentences are read one register after another in turn, so any prefix spans the registers."""
    registers = ["news"] * 3 + ["ivr"] * 2 + ["money"] * 3
    order = interleave(registers)
    assert sorted(order) == list(range(8))
    assert [registers[i] for i in order[:3]] == ["news", "ivr", "money"]
    assert order == [0, 3, 5, 1, 4, 6, 2, 7]


def test_pending_follows_the_given_sentence_order(tmp_path):
    """A plan with registers reads its split in the interleaved order, skipping what is stored."""
    store = Store(tmp_path)
    plan = Plan(singles=("a",), dev=DEV, test=TEST, trials=1, model=MODEL, dev_registers=tuple("xxxyyz"))
    with store.writing():
        store.append(_reading("a", "dev", 1, 3, DEV[3], 0))
    jobs = pending(store, ["a"], "dev", DEV, 1, DEFAULT_VARIANT, MODEL, plan.order("dev"))
    assert [j.index for j in jobs] == [0, 5, 1, 4, 2]


# --- scoring from the stored transcripts (session 8) ---


def test_chinese_fingerprints_and_lines_keep_their_first_shape():
    """A zh reading's key and JSON line are those of the hours-long first run; other languages differ."""
    assert fingerprint("jf_alpha", "dev", 1, "你好。", Variant(), "kokoro-v1.0-int8/6e742170d309") == (
        "24c4a0e6ee19bc9b78bc8d52"
    )
    key = fingerprint("jf_alpha", "dev", 1, "Hello.", Variant(), MODEL)
    assert fingerprint("jf_alpha", "dev", 1, "Hello.", Variant(), MODEL, "en") != key
    line = _reading("a", "dev", 1, 0, DEV[0], 1).to_line()
    assert '"language"' not in line
    assert '"engine"' not in line
    english = replace(_reading("a", "dev", 1, 0, DEV[0], 1), language="en", engine="piper")
    assert Reading.from_line(english.to_line()) == english
    assert Reading.from_line(line) == _reading("a", "dev", 1, 0, DEV[0], 1)


def test_the_report_rescores_the_stored_transcripts(tmp_path):
    """Stored errors from an older scorer give way to today's scoring of the transcript; PER sits beside."""
    store = Store(tmp_path)
    refs = ("这个房间的面积是20m²。", "活动时间为下午2:30。", "我姓王。")
    heard = ("这个房间的面积是20平方米。", "活動時間為下午兩點三十分", "我性王。")
    with store.writing():
        for i, (ref, hyp) in enumerate(zip(refs, heard, strict=True)):
            reading = _reading("a", "dev", 1, i, ref, 5)
            store.append(replace(reading, transcript=hyp))
    plan = Plan(singles=("a",), dev=refs, test=TEST, trials=1, model=MODEL)
    assert plan.result(store, "a", "dev").error.errors == 15  # as stored
    score, diagnostics = report_scoring("spoken", "zh")
    rescored = replace(plan, score=score)
    assert rescored.result(store, "a", "dev").error.errors == 1  # 性 for 姓: a homophone, one character
    report = render_report(store, rescored, ["numbers", "dates", "names"], {}, diagnostics)
    assert "| a | dev | 3/3 | " in report
    assert "PER" in report
    assert "| a | dev | 3/3 | 3.6 | " in report  # 1 of the 28 spoken characters
    per = replace(plan, score=diagnostics["PER"]).result(store, "a", "dev")
    assert per.error.errors == 0
    written = replace(plan, score=diagnostics["written CER"]).result(store, "a", "dev")
    assert written.error.errors > 1  # the first runs' scoring counted notation as errors


def test_language_and_engine_choose_corpus_store_and_trials():
    """English runs get their own store; piper (noisy) three trials, kokoro (deterministic) one."""
    en = parse_args(["--language", "en"])
    assert (en.store.name, en.trials) == ("en_voices", 1)
    piper = parse_args(["--language", "en", "--engine", "piper"])
    assert (piper.store.name, piper.trials) == ("en_voices_piper", 3)
    with pytest.raises(SystemExit):
        parse_args(["--engine", "piper"])


def test_a_limited_try_spans_the_registers():
    """--limit takes sentences register by register in turn, kept in corpus order."""
    rows = load_eval("en_eval", "dev")
    kept = spread_limit(rows, 5)
    assert [s.register for s in kept] == ["news", "dialogue", "ivr", "prose", "numbers"]
    assert spread_limit(rows, None) == rows


def test_the_report_shows_the_single_voices_on_test_while_the_blends_are_still_read(tmp_path):
    """Test figures of single voices are not held back until the dev candidate (a blend, maybe) is known."""
    store = Store(tmp_path)
    plan = Plan(singles=("a", "b"), dev=DEV, test=TEST, trials=1, model=MODEL, top=2, weights=(0.5,))
    _fill(store, "a", "dev", DEV, 1, trials=1)
    _fill(store, "b", "dev", DEV, 2, trials=1)
    _fill(store, "a", "test", TEST, 3, trials=1)
    report = render_report(store, plan, ["news"] * len(DEV), {})
    assert "The dev candidate is not known yet (a:0.5+b:0.5 on dev: 0 of" in report
    test_part = report.split("## test: single voices", 1)[1]
    assert "| kokoro | a | zh | " in test_part.split("\n\n")[1]
    assert "CER 30.0" in test_part
    assert "**No verdict yet**" in report

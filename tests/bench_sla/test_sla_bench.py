"""Fast checks of the SLA bench's pure parts: schedule, load sender, statistics, config, report."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import random
import sys
import time
import tomllib
from pathlib import Path

import httpx
import pytest

sys.path.append(str(Path(__file__).resolve().parents[2] / "bench"))

from _sla_attack import (
    ATTACK_TIMEOUT_S,
    ATTACKS,
    CHUNK_BYTES,
    HUGE_BODY_BYTES,
    MULTIPART_BOUNDARY,
    POISON_MARKER,
    POISON_TEXTS,
    AttackRecord,
    AttackSpec,
    attack_checks,
    attack_stats,
    attack_times,
    filled_chunks,
    huge_json,
    huge_multipart,
    loris_body_request,
    loris_headers_request,
    pathological_markdown,
    status_of,
)
from _sla_chaos import FaultEvent, RssSample, kill_rounds, restart_delta
from _sla_hostile import Attackers
from _sla_load import (
    MAX_REQUESTS,
    Mix,
    Planned,
    RequestRecord,
    arrival_times,
    client_timeout_s,
    make_text,
    plan,
    run_open,
)
from _sla_probe import HealthProbe, health_check, health_stats, probe_times
from _sla_report import plot_scenario, read_records, render_soak, render_summary, write_records
from _sla_scenarios import SCENARIOS, leak_mb_per_call, server_settings
from _sla_server import parse_metrics, toml_config, total
from _sla_stats import (
    OVERLOAD,
    STRICT,
    drift,
    latency_of,
    quantile,
    rss_trends,
    slope_per_hour,
    summarize,
)
from sla import parse_args
from voxgate.settings import ChaosSettings, Settings


def rec(
    seq: int,
    status: int = 200,
    *,
    priority: str = "interactive",
    latency: float = 0.5,
    at: float = 0.0,
    engine: str = "piper",
    degraded: bool = False,
    retry_after: str = "",
) -> RequestRecord:
    return RequestRecord(
        seq, priority, 40, at, at, at + latency, status, engine, degraded, "", retry_after, ""
    )


# ---- schedule -------------------------------------------------------------------------------------


def test_fixed_interval_arrivals_are_evenly_spaced():
    """A fixed-interval schedule sends exactly rate × duration requests, 1/rate apart."""
    times = arrival_times(4.0, 5.0, random.Random(0), poisson=False)
    assert len(times) == 20
    assert times[0] == 0.0
    assert all(math.isclose(b - a, 0.25) for a, b in itertools.pairwise(times))


def test_poisson_arrivals_keep_the_mean_rate_and_are_reproducible():
    """Poisson arrivals average the asked rate, stay inside the window, and repeat with the seed."""
    times = arrival_times(50.0, 200.0, random.Random(3))
    assert abs(len(times) / 200.0 - 50.0) < 1.5
    assert times == sorted(times)
    assert times[0] >= 0
    assert times[-1] < 200.0
    assert times == arrival_times(50.0, 200.0, random.Random(3))


def test_arrivals_are_bounded_and_reject_nonsense():
    """A schedule never exceeds MAX_REQUESTS, and a non-positive rate or duration is refused."""
    assert len(arrival_times(1e6, 10.0, random.Random(0), poisson=False)) == MAX_REQUESTS
    with pytest.raises(ValueError, match="positive"):
        arrival_times(0.0, 10.0, random.Random(0))
    with pytest.raises(ValueError, match="positive"):
        arrival_times(1.0, -1.0, random.Random(0))


def test_plan_merges_streams_in_time_order_with_their_shares():
    """Streams are offered at share × rate, merged in time order, each text unique and in bounds."""
    schedule = plan((Mix(0.25, "interactive", 20, 60), Mix(0.75, "batch", 100, 200)), 40.0, 60.0, seed=5)
    assert [p.at_s for p in schedule] == sorted(p.at_s for p in schedule)
    counts = {pr: sum(p.priority == pr for p in schedule) for pr in ("interactive", "batch")}
    assert counts["batch"] / counts["interactive"] == pytest.approx(3.0, rel=0.15)
    assert len({p.text for p in schedule}) == len(schedule)
    assert all(len(p.text) <= 60 for p in schedule if p.priority == "interactive")
    assert all(len(p.text) <= 200 for p in schedule if p.priority == "batch")
    assert [p.seq for p in schedule] == list(range(len(schedule)))


def test_texts_are_unique_sentences_within_the_length():
    """Generated texts end a sentence, respect the maximum length and differ per serial."""
    rng = random.Random(1)
    texts = [make_text(rng, n, 30, 80) for n in range(200)]
    assert all(len(t) <= 80 and t.endswith(".") for t in texts)
    assert len(set(texts)) == 200


def test_client_timeout_follows_the_server_deadline_plus_slack():
    """The client waits the server's default deadline for the class and length, plus slack."""
    assert client_timeout_s("interactive", 40) == pytest.approx(3.0 + 15.0)
    assert client_timeout_s("batch", 10_000) == pytest.approx(200.0 + 15.0)


# ---- the sender (HTTP mocked at the network edge) ---------------------------------------------------


def test_open_model_sends_on_schedule_even_when_the_server_is_slow():
    """Requests leave at their planned times although each answer takes 0.4 s (open model)."""

    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.4)
        return httpx.Response(200, headers={"x-voxgate-engine": "piper", "x-voxgate-degraded": "false"})

    schedule = [Planned(i, 0.05 * i, "api", "Hello there.") for i in range(8)]

    async def go() -> list[RequestRecord]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(slow), base_url="http://test") as client:
            return await run_open(client, "joe", schedule)

    started = time.perf_counter()
    records = asyncio.run(go())
    assert time.perf_counter() - started < 1.5
    assert all(r.start_s - r.scheduled_s < 0.1 for r in records)
    assert all(r.status == 200 and r.engine == "piper" and r.latency_s >= 0.39 for r in records)


def test_sender_records_refusals_and_connection_failures():
    """A 429 keeps its Retry-After and error code; a request with no answer is status 0 with the error."""

    def answer(request: httpx.Request) -> httpx.Response:
        if b"fail" in request.content:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(429, headers={"retry-after": "2"}, json={"error": {"code": "overload"}})

    schedule = [Planned(0, 0.0, "batch", "Shed me."), Planned(1, 0.0, "api", "fail")]

    async def go() -> list[RequestRecord]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(answer), base_url="http://test") as client:
            return await run_open(client, "joe", schedule)

    shed, failed = asyncio.run(go())
    assert (shed.status, shed.retry_after, shed.error) == (429, "2", "overload")
    assert (failed.status, failed.error) == (0, "ConnectError")


# ---- statistics --------------------------------------------------------------------------------------


def test_quantile_is_nearest_rank():
    """P50/P95 pick an observed value by nearest rank; no values give NaN."""
    values = [float(v) for v in range(1, 101)]
    assert quantile(values, 0.5) == 50.0
    assert quantile(values, 0.95) == 95.0
    assert quantile([7.0], 0.99) == 7.0
    assert math.isnan(quantile([], 0.5))


def test_summary_counts_outcomes_and_availability():
    """Percentages, degraded share of 2xx, and availability = 2xx / admitted come out right."""
    records = [rec(i, latency=0.1 * (i + 1)) for i in range(6)]
    records += [rec(6, degraded=True, engine="espeak"), rec(7, 429, retry_after="1"), rec(8, 503), rec(9, 0)]
    s = summarize(records, key="k", title="t", kind=STRICT, offered_rps=2.0, duration_s=5.0)
    assert s.requests == 10
    assert (s.ok_pct, s.rejected_pct, s.server_error_pct, s.dropped_pct) == (70.0, 10.0, 10.0, 10.0)
    assert s.degraded_pct == pytest.approx(100 / 7)
    assert s.availability_pct == pytest.approx(700 / 9)
    assert s.goodput_rps == pytest.approx(7 / 5)
    assert s.engines == {"piper": 6, "espeak": 1}
    assert s.errors == {"429 ": 1, "503 ": 1, "0 ": 1}
    assert s.latency["interactive"].n == 7
    assert not s.passed
    failing = {c.name for c in s.checks if not c.ok}
    assert failing == {"0 × 5xx", "nothing dropped", "availability ≥ 99.9 %"}
    assert s.server_errors == 1
    assert next(c for c in s.checks if c.name == "0 × 5xx").detail == "1 5xx"


def test_summary_counts_fallback_reasons_and_error_codes():
    """Fallback reasons of 2xx answers and status + code of the others are tallied for root causes."""
    records = [
        RequestRecord(0, "api", 40, 0, 0, 9.6, 200, "espeak", True, "piper:queue_timeout", "", ""),
        RequestRecord(1, "api", 40, 0, 0, 9.7, 200, "espeak", True, "piper:queue_timeout", "", ""),
        RequestRecord(2, "batch", 40, 0, 0, 0.1, 429, "", False, "", "4", "queue_full"),
        RequestRecord(3, "api", 40, 0, 0, 18.0, 0, "", False, "", "", "timeout"),
    ]
    s = summarize(records, key="k", title="t", kind=OVERLOAD, offered_rps=1, duration_s=1)
    assert s.fallbacks == {"piper:queue_timeout": 2}
    assert s.errors == {"429 queue_full": 1, "0 timeout": 1}


def test_overload_targets_want_retry_after_and_no_5xx():
    """Under overload 429s are fine, but one without Retry-After or one 5xx fails the scenario."""
    good = [rec(i, latency=0.2) for i in range(20)] + [rec(20 + i, 429, retry_after="3") for i in range(30)]
    assert summarize(good, key="k", title="t", kind=OVERLOAD, offered_rps=1, duration_s=1).passed
    bad = [*good, rec(99, 429)]
    s = summarize(bad, key="k", title="t", kind=OVERLOAD, offered_rps=1, duration_s=1)
    assert [c.name for c in s.checks if not c.ok] == ["429 carries Retry-After"]
    s = summarize([*good, rec(98, 500)], key="k", title="t", kind=OVERLOAD, offered_rps=1, duration_s=1)
    assert [c.name for c in s.checks if not c.ok] == ["0 × 5xx", "availability ≥ 99.9 %"]


def test_interactive_p95_target_uses_answered_interactive_requests():
    """Interactive P95 over 3 s fails; no interactive answer at all fails too."""
    slow = [rec(i, latency=4.0 if i >= 90 else 1.0) for i in range(100)]
    s = summarize(slow, key="k", title="t", kind=STRICT, offered_rps=1, duration_s=1)
    assert s.latency["interactive"].p95 == 4.0
    assert not next(c for c in s.checks if c.name.startswith("interactive")).ok
    only_api = [rec(i, priority="api") for i in range(5)]
    s = summarize(only_api, key="k", title="t", kind=STRICT, offered_rps=1, duration_s=1)
    assert not next(c for c in s.checks if c.name.startswith("interactive")).ok


def test_rss_slope_by_regression_and_only_long_series():
    """A worker growing 1 MB a minute has a 60 MB/hour slope; a short-lived worker is left out."""
    assert slope_per_hour([(60.0 * m, 300.0 + m) for m in range(30)]) == pytest.approx(60.0)
    assert math.isnan(slope_per_hour([(1.0, 5.0)]))
    samples = [RssSample(60.0 * m, "piper", "1", 300.0 + m) for m in range(30)]
    samples += [RssSample(10.0 * k, "piper", "2", 280.0) for k in range(5)]
    trends = rss_trends(samples, min_span_s=600)
    assert [(t.worker, round(t.slope_mb_per_h)) for t in trends] == [("1", 60)]


def test_rss_slope_leaves_out_each_workers_warm_up():
    """Growth in a worker's first minutes (model paging in) does not count as a leak."""
    samples = [RssSample(60.0 * m, "piper", "1", 100.0 + 40 * min(m, 5)) for m in range(40)]
    assert rss_trends(samples, min_span_s=600)[0].slope_mb_per_h > 5
    flat = rss_trends(samples, min_span_s=600, warmup_s=300)
    assert flat[0].slope_mb_per_h == pytest.approx(0.0)
    assert (flat[0].first_mb, flat[0].samples) == (300.0, 35)


def test_drift_compares_first_and_last_windows():
    """Latency drift reports the first and last window of arrivals separately."""
    records = [rec(i, latency=1.0 if i < 50 else 2.0, at=float(i)) for i in range(100)]
    first, last = drift(records, 20.0)
    assert (first.n, first.p95, last.p95) == (20, 1.0, 2.0)


def test_restart_delta_keeps_only_new_restarts():
    """Restarts are the difference of two counter readings, zeros left out."""
    before = {"piper/crashed": 2.0, "espeak/crashed": 1.0}
    after = {"piper/crashed": 5.0, "espeak/crashed": 1.0, "piper/recycled": 1.0}
    assert restart_delta(before, after) == {"piper/crashed": 3, "piper/recycled": 1}


# ---- server config and metrics ---------------------------------------------------------------------


def test_generated_toml_is_valid_voxgate_settings(tmp_path):
    """The bench's server config (with the leak chaos) round-trips through TOML into real Settings."""
    settings = server_settings("piper", leak_mb=4.2)
    text = toml_config(settings)
    assert tomllib.loads(text) == settings
    path = tmp_path / "voxgate.toml"
    path.write_text(text)
    loaded = Settings.load(path)
    assert loaded.engines.piper.chaos.enabled
    assert loaded.engines.piper.chaos.leak_mb_per_call == 4.2
    assert (loaded.engines.piper.soft_rss_mb, loaded.engines.kokoro.enabled) == (600, False)
    assert loaded.qos.limits.default == ""
    assert loaded.cache.url.endswith("max_bytes=0")


def test_leak_is_sized_to_trip_the_soft_limit_within_the_scenario():
    """The per-call leak shrinks as calls per worker grow and stays within 1–50 MB."""
    assert leak_mb_per_call(5.0, 0.7, 2, 20.0) == pytest.approx(300 / (5.25 * 5))
    assert leak_mb_per_call(100.0, 1.0, 1, 600.0) == 1.0
    assert leak_mb_per_call(0.01, 0.7, 2, 10.0) == 50.0


def test_parse_metrics_reads_the_prometheus_text_format():
    """Samples with labels (escaped quotes too) are parsed; comments are skipped; totals filter."""
    text = "\n".join(
        [
            "# HELP voxgate_worker_restarts_total Worker processes that went away.",
            "# TYPE voxgate_worker_restarts_total counter",
            'voxgate_worker_restarts_total{engine="piper",reason="crashed"} 3.0',
            'voxgate_worker_restarts_total{engine="espeak",reason="crashed"} 1.0',
            'voxgate_worker_rss_bytes{engine="piper",worker="7"} 3.145728e+08',
            'voxgate_odd{path="a \\"b\\""} 2',
            "voxgate_in_flight 0.0",
        ]
    )
    m = parse_metrics(text)
    assert total(m, "voxgate_worker_restarts_total") == 4.0
    assert total(m, "voxgate_worker_restarts_total", engine="piper") == 3.0
    assert m["voxgate_worker_rss_bytes"][(("engine", "piper"), ("worker", "7"))] == 314572800.0
    assert m["voxgate_odd"][(("path", 'a \\"b\\"'),)] == 2.0
    assert m["voxgate_in_flight"][()] == 0.0


# ---- report ---------------------------------------------------------------------------------------


def test_records_round_trip_through_csv(tmp_path):
    """Every field of a request record survives the CSV."""
    records = [rec(0), rec(1, 429, retry_after="2", priority="batch"), rec(2, 200, degraded=True)]
    write_records(tmp_path / "r.csv", records)
    assert read_records(tmp_path / "r.csv") == records


def test_summary_markdown_shows_rows_targets_and_resources():
    """The report has one table row per scenario with its verdict, and a row per failed target."""
    ok = summarize(
        [rec(i) for i in range(10)],
        key="a",
        title="1 steady 50 %",
        kind=STRICT,
        offered_rps=1.5,
        duration_s=10,
    )
    bad = summarize([rec(0, 503)], key="b", title="3 SIGKILL", kind=STRICT, offered_rps=1.0, duration_s=10)
    text = render_summary([ok, bad], {"mode": "short"})
    assert "- **mode**: short" in text
    row = next(line for line in text.splitlines() if line.startswith("| 1 steady 50 %"))
    assert "| 1.50 | 10 | 1.00 | 0.50 / 0.50 / 0.50 |" in row
    assert row.endswith("| PASS |")
    assert next(line for line in text.splitlines() if line.startswith("| 3 SIGKILL |")).endswith("**FAIL** |")
    assert "| 3 SIGKILL | 0 × 5xx | **FAIL** | 1 5xx |" in text
    assert "| 1 steady 50 % | 0 × 5xx | pass | 0 5xx |" in text


def test_soak_section_judges_each_worker_slope():
    """The soak section lists each worker's slope with pass/fail and the latency drift."""
    samples = [RssSample(60.0 * m, "piper", "1", 300.0 + m / 10) for m in range(40)]
    samples += [RssSample(60.0 * m, "piper", "2", 300.0 + m) for m in range(40)]
    first = latency_of([rec(0, latency=0.4)])
    text = render_soak(rss_trends(samples, 600), first, first, 5.0)
    assert "| piper | 1 | 40 | 39.0 | 300 | 304 | +6.00 | **FAIL** |" in text
    assert "| piper | 2 |" in text
    assert "+60.00" in text
    assert "first window 0.40 / 0.40 / 0.40 (n=1)" in text


def test_scenarios_cover_the_eight_kinds_of_the_issues():
    """Steady, overload, kill, freeze, leak, mixed priorities, all workers lost and hostile clients."""
    assert {s.fault for s in SCENARIOS} == {"none", "kill", "freeze", "leak", "kill-all", "hostile"}
    by_key = {s.key: s for s in SCENARIOS}
    assert (by_key["kill-all"].load, by_key["kill-all"].probe) == (0.7, True)
    hostile = by_key["hostile"]
    assert hostile.probe
    assert hostile.offered_share == pytest.approx(0.5)
    assert {m.priority for m in hostile.mixes} == {"interactive"}
    assert [s.key[0:4] for s in SCENARIOS if s.probe] == ["kill", "host"]
    assert [s.load for s in SCENARIOS if s.key.startswith(("steady", "overload"))] == [0.5, 1.0, 2.0, 4.0]
    assert any(
        s.kind == OVERLOAD and {m.priority for m in s.mixes} == {"interactive", "batch"} for s in SCENARIOS
    )


def test_plot_has_three_panels_and_marks_faults(tmp_path):
    """The scenario plot is written as a PNG (skipped without matplotlib, the bench extra)."""
    pytest.importorskip("matplotlib", reason="matplotlib is in the bench extra: pip install matplotlib")
    records = [rec(i, latency=0.2 + (i % 7) / 10, at=i * 0.3) for i in range(60)]
    records += [rec(60, 503, at=5.0), rec(61, 429, at=6.0, retry_after="1")]
    faults = [FaultEvent(4.0, "SIGKILL", 123, "busy worker"), FaultEvent(9.0, "SIGSTOP", 124, "idle worker")]
    rss = [RssSample(float(t), "piper", "1", 280.0 + t) for t in range(20)]
    path = tmp_path / "plot.png"
    plot_scenario(path, "kill", records, faults, rss, 20.0, [("soft limit", 600)])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 20_000


# ---- scenario 7: any engine loses all workers ---------------------------------------------------------


def test_kill_rounds_hit_every_engine_in_shuffled_rounds():
    """Each round kills every engine once in a fresh order, never one engine twice in a row, 10 s apart."""
    engines = ["piper", "espeak", "kokoro"]
    rounds = kill_rounds(engines, 10.0, 95.0, seed=3)
    assert [t for t, _ in rounds] == [5.0 + 10.0 * k for k in range(9)]
    order = [e for _, e in rounds]
    for k in range(0, 9, 3):
        assert sorted(order[k : k + 3]) == sorted(engines)
    assert all(a != b for a, b in itertools.pairwise(order))
    assert len({tuple(order[k : k + 3]) for k in range(0, 9, 3)}) > 1  # shuffled, not a fixed cycle
    assert kill_rounds(engines, 10.0, 95.0, seed=3) == rounds


def test_kill_rounds_hit_the_last_resort_even_in_a_short_run():
    """A run too short for 10 s steps still kills every engine, espeak included, once."""
    rounds = kill_rounds(["piper", "espeak"], 10.0, 16.0, seed=1)
    assert sorted(e for _, e in rounds) == ["espeak", "piper"]
    assert all(0 < t < 16.0 for t, _ in rounds)
    assert kill_rounds(["espeak"], 10.0, 30.0, seed=1) == [
        (5.0, "espeak"),
        (15.0, "espeak"),
        (25.0, "espeak"),
    ]
    with pytest.raises(ValueError, match="positive"):
        kill_rounds([], 10.0, 30.0, seed=1)
    with pytest.raises(ValueError, match="positive"):
        kill_rounds(["piper"], 0.0, 30.0, seed=1)


# ---- scenario 8: hostile clients ----------------------------------------------------------------------


def test_attack_times_are_bounded_in_count_and_time():
    """Every attacker stops by itself: at most max_count attempts, none at or after the window's end."""
    spec = AttackSpec("x", 1.0, 2.0, 5, False, "")
    assert attack_times(spec, 6.0) == [1.0, 3.0, 5.0]
    assert attack_times(spec, 100.0) == [1.0, 3.0, 5.0, 7.0, 9.0]
    assert attack_times(spec, 0.5) == []
    assert all(len(attack_times(a, 3600.0)) == a.max_count for a in ATTACKS)
    with pytest.raises(ValueError, match="positive"):
        attack_times(AttackSpec("x", 0.0, 0.0, 5, False, ""), 6.0)


def test_huge_bodies_are_exact_size_and_streamed_in_small_pieces():
    """The 64 MB JSON body is valid JSON of exactly its size, produced 64 KB at a time."""
    small = b"".join(huge_json("joe", total=1000))
    assert len(small) == 1000
    assert json.loads(small)["voice"] == "joe"
    sizes = [len(piece) for piece in huge_json("joe")]
    assert sum(sizes) == HUGE_BODY_BYTES == 64 * 2**20
    assert max(sizes) <= CHUNK_BYTES
    assert b"".join(filled_chunks(b"<" * 5, b">", 12, chunk=4)) == b"<<<<<aaaaaa>"
    with pytest.raises(ValueError, match="cannot fill"):
        list(filled_chunks(b"abc", b"def", 5))


def test_huge_multipart_is_a_well_formed_upload():
    """The multipart body names the voice and a file part and ends with the closing boundary."""
    body = b"".join(huge_multipart("joe", total=2000))
    assert len(body) == 2000
    assert body.startswith(f"--{MULTIPART_BOUNDARY}\r\n".encode())
    assert b'name="voice"\r\n\r\njoe\r\n' in body
    assert b'name="file"; filename="huge.txt"' in body
    assert body.endswith(f"\r\n--{MULTIPART_BOUNDARY}--\r\n".encode())


def test_pathological_markdown_has_the_issues_shape():
    """About 30 KB: heading lines '# a' + 3000 spaces + '#' + 3000 spaces + 'b', then '**a ' × 4000."""
    text = pathological_markdown()
    heading = "# a" + " " * 3000 + "#" + " " * 3000 + "b"
    assert 25_000 <= len(text.encode()) <= 31_000
    assert text.splitlines()[0] == heading
    assert text.count(heading) >= 2
    assert "**a " * 4000 in text


def test_poison_texts_carry_the_marker_and_the_server_is_told_about_it(tmp_path):
    """Every poison text holds the marker; the hostile server's chaos settings crash on exactly it."""
    assert all(POISON_MARKER in t for t in POISON_TEXTS)
    assert POISON_MARKER.isalpha()
    assert POISON_MARKER.islower()
    settings = server_settings("piper", poison=POISON_MARKER)
    chaos = settings["engines"]["piper"]["chaos"]
    assert chaos == {"enabled": True, "poison_text": POISON_MARKER, "poison_effect": "crash"}
    assert "chaos" not in settings["engines"]["espeak"]
    path = tmp_path / "voxgate.toml"
    path.write_text(toml_config(settings))
    loaded = Settings.load(path)
    assert loaded.engines.piper.chaos.enabled
    assert loaded.engines.piper.chaos.error_rate == 0.0  # poison only: no random faults
    if "poison_text" in ChaosSettings.model_fields:  # once the poison fields have landed (h-exec)
        assert getattr(loaded.engines.piper.chaos, "poison_text") == POISON_MARKER  # noqa: B009
        assert str(getattr(loaded.engines.piper.chaos, "poison_effect")) == "crash"  # noqa: B009


def test_slow_loris_requests_are_valid_http_that_never_finish_at_loris_pace():
    """The slow body matches its Content-Length, the header block ends properly, both outlast the hold."""
    head, body = loris_body_request("127.0.0.1:8000", "joe")
    assert head.endswith(b"\r\n\r\n")
    assert f"Content-Length: {len(body)}\r\n".encode() in head
    assert json.loads(body)["voice"] == "joe"
    headers = loris_headers_request("127.0.0.1:8000")
    assert headers.startswith(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n")
    assert headers.endswith(b"\r\n\r\n")
    assert min(len(body), len(headers)) > 2.0 * 30.0 * 2  # twice what 30 s at 2 B/s sends
    assert status_of(b"HTTP/1.1 408 Request Timeout\r\n\r\n") == 408
    assert status_of(b"") == 0
    assert status_of(b"garbage") == 0


def atk(kind: str, status: int, error: str = "", latency: float = 0.1, seq: int = 0) -> AttackRecord:
    return AttackRecord(kind, seq, 1.0, 1.0 + latency, status, error, 100)


def test_attack_stats_group_outcomes_per_attacker():
    """Attempts are grouped per kind in the plan's order, with outcome counts, P50 and max seconds."""
    records = [
        atk("poison", 200, latency=0.5),
        atk("huge-json", 413, "body_too_large", latency=33.7),
        atk("huge-json", 413, "body_too_large", latency=0.2),
        atk("poison", 503, "no_engine", latency=2.0),
        atk("poison", 200, latency=0.4),
    ]
    stats = attack_stats(records)
    assert [s.kind for s in stats] == ["huge-json", "poison"]
    assert stats[0].outcomes == {"413 body_too_large": 2}
    assert (stats[0].p50_s, stats[0].max_s) == pytest.approx((0.2, 33.7))
    assert stats[1].outcomes == {"200": 2, "503 no_engine": 1}
    assert stats[1].n == 3


def test_attack_checks_want_no_5xx_413_for_huge_bodies_and_no_failed_request():
    """An attacker's 5xx, a huge body not refused with 413, or a failed request on the server each fail."""
    good = [
        atk("huge-json", 413),
        atk("huge-chunked", 413),
        atk("leave-native", 200, "left after first chunk"),
    ]
    checks = attack_checks(good, {"ok": 40, "cancelled": 10})
    assert all(c.ok for c in checks)
    bad = [atk("huge-json", 413), atk("huge-chunked", 500), atk("poison", 503)]
    checks = {c.name: c for c in attack_checks(bad, {"ok": 30, "failed": 10})}
    assert not checks["attackers: 0 × 5xx"].ok
    assert checks["attackers: 0 × 5xx"].detail == "2 5xx (huge-chunked, poison)"
    assert not checks["huge bodies refused with 413"].ok
    assert checks["huge bodies refused with 413"].detail.startswith("1 of 2")
    assert not checks["server records 0 failed (leavers: cancelled)"].ok
    no_huge = [c.name for c in attack_checks([good[2]], {"cancelled": 1})]
    assert "huge bodies refused with 413" not in no_huge  # --attackers left them out
    unknown = {c.name: c.ok for c in attack_checks(good, {})}
    assert not unknown["server records 0 failed (leavers: cancelled)"]  # no reading is no evidence


def test_healthz_stats_count_failed_probes_with_their_time():
    """P99 is nearest-rank over every probe; a probe stuck 10 s and a non-200 fail the target."""
    fast = [HealthProbe(0.1 * k, 0.002 + 0.0001 * (k % 10), 200) for k in range(200)]
    stats = health_stats(fast)
    assert (stats.n, stats.failed) == (200, 0)
    assert stats.p99_ms == pytest.approx(2.9)
    assert stats.ok
    assert health_check(stats).ok
    stuck = [*fast[:190], *[HealthProbe(19.0 + k / 10, 10.0, 0) for k in range(10)]]
    stats = health_stats(stuck)
    assert (stats.failed, stats.max_ms) == (10, 10_000.0)
    assert stats.p99_ms == 10_000.0
    check = health_check(stats)
    assert not check.ok
    assert check.detail == "P99 10000 ms, max 10000 ms over 200 probes, 10 failed"
    assert not health_stats([HealthProbe(0.0, 0.001, 503)]).ok
    assert not health_stats([]).ok


def test_probe_times_every_100_ms_bounded():
    """The probe is planned every 100 ms within the window, and never more than 20 000 times."""
    assert probe_times(0.1, 2.0) == pytest.approx([0.1 * k for k in range(20)])
    assert len(probe_times(0.1, 1e6)) == 20_000
    with pytest.raises(ValueError, match="positive"):
        probe_times(0.0, 2.0)


def test_hostile_report_shows_probe_attackers_and_server_outcomes():
    """Scenarios 7 and 8 get a /healthz row, attacker rows with expectations, and the server's outcomes."""
    legit = [rec(i, latency=0.3) for i in range(20)]
    probes = health_stats([HealthProbe(0.1 * k, 0.004, 200) for k in range(50)])
    attacks = [
        atk("huge-json", 413, "body_too_large", 0.3),
        atk("leave-native", 200, "left after first chunk"),
    ]
    served = {"ok": 20, "cancelled": 1}
    s = summarize(
        legit,
        key="hostile",
        title="8 hostile clients",
        kind=STRICT,
        offered_rps=1.0,
        duration_s=10,
        health=probes,
        attacks=attack_stats(attacks),
        server_outcomes=served,
        extra_checks=[health_check(probes), *attack_checks(attacks, served)],
    )
    assert s.passed
    text = render_summary([s], {"mode": "short"})
    assert "| 8 hostile clients | 50 | 0 | 4 | 4 | 4 |" in text
    assert (
        "| 8 hostile clients | huge-json | 1 | 413 body_too_large × 1 | 0.30 / 0.30 | 413 at once |" in text
    )
    assert "- 8 hostile clients: ok 20, cancelled 1" in text
    assert "| 8 hostile clients | /healthz P99 ≤ 100 ms, every probe 200 | pass |" in text
    plain = summarize(legit, key="a", title="1 steady", kind=STRICT, offered_rps=1.0, duration_s=10)
    assert "## Hostile clients" not in render_summary([plain], {})
    assert "## /healthz" not in render_summary([plain], {})


def test_attackers_talk_only_to_localhost_and_can_be_chosen():
    """The attackers refuse any host but 127.0.0.1; a subset can be chosen, an unknown one is refused."""
    with pytest.raises(ValueError, match=r"127\.0\.0\.1"):
        Attackers("http://example.com:80", "joe", 0.0, 10.0)
    chosen = Attackers("http://127.0.0.1:9", "joe", 0.0, 10.0, ["poison", "loris-body"])
    assert [s.kind for s in chosen.specs] == ["poison", "loris-body"]
    assert len(Attackers("http://127.0.0.1:9", "joe", 0.0, 10.0).specs) == len(ATTACKS)
    with pytest.raises(ValueError, match="unknown attackers"):
        Attackers("http://127.0.0.1:9", "joe", 0.0, 10.0, ["teapot"])
    with pytest.raises(SystemExit):
        parse_args(["--attackers", "poison,teapot"])
    assert parse_args(["--only", "hostile", "--attackers", "poison"]).attackers == "poison"


def test_huge_attempts_stream_64_mb_with_and_without_a_length():
    """huge-json declares its 64 MB length, huge-chunked sends it chunked without one; 413 is recorded."""
    seen: list[tuple[str | None, str | None, int]] = []

    async def server(request: httpx.Request) -> httpx.Response:
        size = 0
        async for piece in request.stream:  # type: ignore[union-attr]
            size += len(piece)
        seen.append((request.headers.get("content-length"), request.headers.get("transfer-encoding"), size))
        return httpx.Response(413, json={"error": {"code": "body_too_large"}})

    async def go() -> list[AttackRecord]:
        attackers = Attackers("http://127.0.0.1:9", "joe", time.perf_counter(), 10.0)
        async with httpx.AsyncClient(transport=httpx.MockTransport(server), base_url=attackers.base_url) as c:
            await attackers._attempt(c, "huge-json", 0)
            await attackers._attempt(c, "huge-chunked", 0)
        return attackers.records

    records = asyncio.run(go())
    assert seen == [(str(HUGE_BODY_BYTES), None, HUGE_BODY_BYTES), (None, "chunked", HUGE_BODY_BYTES)]
    assert [(r.status, r.error, r.sent_bytes) for r in records] == [
        (413, "body_too_large", HUGE_BODY_BYTES)
    ] * 2
    assert all(r.latency_s < ATTACK_TIMEOUT_S for r in records)


def test_leaving_clients_read_one_chunk_and_go():
    """A leaver stops after the first audio chunk of a native or OpenAI stream (status kept)."""
    served: list[bytes] = []

    async def body():
        for k in range(50):
            served.append(b"x")
            yield b"chunk %d" % k
            await asyncio.sleep(0)

    async def server(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body())

    async def go() -> list[AttackRecord]:
        attackers = Attackers("http://127.0.0.1:9", "joe", time.perf_counter(), 10.0)
        async with httpx.AsyncClient(transport=httpx.MockTransport(server), base_url=attackers.base_url) as c:
            for kind in ("leave-native", "leave-openai", "leave-openai-sse"):
                await attackers._attempt(c, kind, 0)
        return attackers.records

    records = asyncio.run(go())
    assert [(r.kind, r.status, r.error) for r in records] == [
        ("leave-native", 200, "left after first chunk"),
        ("leave-openai", 200, "left after first chunk"),
        ("leave-openai-sse", 200, "left after first chunk"),
    ]
    assert len(served) < 10

"""Fast checks of the SLA bench's pure parts: schedule, load sender, statistics, config, report."""

from __future__ import annotations

import asyncio
import itertools
import math
import random
import sys
import time
import tomllib
from pathlib import Path

import httpx
import pytest

sys.path.append(str(Path(__file__).resolve().parents[2] / "bench"))

from _sla_chaos import FaultEvent, RssSample, restart_delta
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
from voxgate.settings import Settings


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
    assert failing == {"no failed request", "availability ≥ 99.9 %"}


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
    assert [c.name for c in s.checks if not c.ok] == ["never 5xx", "availability ≥ 99.9 %"]


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
    assert "| 3 SIGKILL | no failed request | **FAIL** | 1 5xx, 0 dropped |" in text


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


def test_scenarios_cover_the_six_kinds_of_the_issue():
    """Steady, overload, kill, freeze, leak and mixed priorities are all planned."""
    assert {s.fault for s in SCENARIOS} == {"none", "kill", "freeze", "leak"}
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

"""The SLA bench's report: per-request CSVs, the Markdown summary, and PNG plots (matplotlib).

matplotlib is imported only by :func:`plot_scenario`, so the CSV and Markdown parts work
without it (it belongs to the ``bench`` extra).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, fields
from pathlib import Path

from _sla_chaos import FaultEvent, RssSample
from _sla_load import PRIORITIES, RequestRecord
from _sla_report_hostile import render_hostile
from _sla_stats import Latency, RssTrend, Summary

_PRIORITY_COLOURS = {"interactive": "#1f77b4", "api": "#2ca02c", "batch": "#ff7f0e"}
_FAULT_COLOURS = {"SIGKILL": "#d62728", "SIGSTOP": "#9467bd", "SIGCONT": "#17becf"}
_LEGEND: dict[str, object] = {
    "loc": "upper left",
    "bbox_to_anchor": (1.01, 1.0),
    "fontsize": 8,
    "borderaxespad": 0,
}


def write_records(path: Path, records: Sequence[RequestRecord]) -> None:
    """One CSV row per request, columns as :class:`RequestRecord`'s fields."""
    names = [f.name for f in fields(RequestRecord)]
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=names)
        writer.writeheader()
        for record in records:
            writer.writerow(asdict(record))


def read_records(path: Path) -> list[RequestRecord]:
    """Read a CSV written by :func:`write_records`."""
    with path.open(newline="") as source:
        return [
            RequestRecord(
                seq=int(row["seq"]),
                priority=row["priority"],
                chars=int(row["chars"]),
                scheduled_s=float(row["scheduled_s"]),
                start_s=float(row["start_s"]),
                end_s=float(row["end_s"]),
                status=int(row["status"]),
                engine=row["engine"],
                degraded=row["degraded"] == "True",
                fallback_reason=row["fallback_reason"],
                retry_after=row["retry_after"],
                error=row["error"],
            )
            for row in csv.DictReader(source)
        ]


def _lat(lat: Latency) -> str:
    if lat.n == 0:
        return "–"
    return f"{lat.p50:.2f} / {lat.p95:.2f} / {lat.p99:.2f}"


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items()) or "–"


def _num(value: float, spec: str = ".0f") -> str:
    return "–" if math.isnan(value) else format(value, spec)


def render_summary(summaries: Sequence[Summary], context: Mapping[str, str]) -> str:
    """The Markdown report: run context, the summary table, targets, and resources.

    Args:
        summaries: one per scenario, in run order.
        context: run facts shown as a list above the tables (machine, mode, capacity, ...).
    """
    lines = ["# voxgate SLA run", ""]
    lines += [f"- **{k}**: {v}" for k, v in context.items()]
    lines += [
        "",
        "Latency: P50 / P95 / P99 in seconds of the 2xx answers, from sending the request to the last",
        "body byte. Percentages are of all requests of the scenario, except degraded (of 2xx answers).",
        "Availability = 2xx answers / admitted (every request that did not get 429). 5xx: how many",
        "(target 0 in every scenario). In scenario 8 these columns count the legitimate traffic only.",
        "",
        "| scenario | offered req/s | requests | goodput req/s | interactive | api | batch "
        "| 2xx % | 429 % | 5xx % | 5xx | dropped % | degraded % | availability % | worker restarts "
        "| max worker RSS MB | targets |",
        "|---|---:|---:|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---|",
    ]
    for s in summaries:
        restarts = _counts(s.restarts) if s.restarts else "0"
        lines.append(
            f"| {s.title} | {s.offered_rps:.2f} | {s.requests} | {s.goodput_rps:.2f} "
            f"| {_lat(s.latency['interactive'])} | {_lat(s.latency['api'])} | {_lat(s.latency['batch'])} "
            f"| {s.ok_pct:.1f} | {s.rejected_pct:.1f} | {s.server_error_pct:.1f} | {s.server_errors} "
            f"| {s.dropped_pct:.1f} "
            f"| {s.degraded_pct:.1f} | {s.availability_pct:.2f} | {restarts} | {_num(s.max_rss_mb)} "
            f"| {'PASS' if s.passed else '**FAIL**'} |"
        )
    lines += ["", "## Targets", "", "| scenario | target | result | measured |", "|---|---|---|---|"]
    for s in summaries:
        for check in s.checks:
            verdict = "pass" if check.ok else "**FAIL**"
            lines.append(f"| {s.title} | {check.name} | {verdict} | {check.detail} |")
    lines += [
        "",
        "## Load generator and server resources",
        "",
        "CPU in % of one core over the scenario. Send lag: how late the generator sent a request",
        "after its planned arrival time (P99); small means the open-model schedule was kept.",
        "",
        "| scenario | generator CPU % | server + workers CPU % | send lag P99 ms |",
        "|---|---:|---:|---:|",
    ]
    for s in summaries:
        lines.append(
            f"| {s.title} | {_num(s.generator_cpu_pct)} | {_num(s.server_cpu_pct)} "
            f"| {_num(s.send_lag_p99_ms, '.1f')} |"
        )
    lines += [
        "",
        "## Who answered, and why not the primary",
        "",
        "Fallback reason (`X-Voxgate-Fallback-Reason`, first engine that did not answer a sentence) of",
        "the 2xx answers; non-2xx answers by status and error code.",
        "",
        "| scenario | answered by | fallback reasons | non-2xx |",
        "|---|---|---|---|",
    ]
    for s in summaries:
        lines.append(f"| {s.title} | {_counts(s.engines)} | {_counts(s.fallbacks)} | {_counts(s.errors)} |")
    return "\n".join(lines) + "\n" + render_hostile(summaries)


def render_soak(trends: Sequence[RssTrend], first: Latency, last: Latency, limit_mb_per_h: float) -> str:
    """Markdown section of a soak run: RSS slope per worker and latency drift."""
    lines = [
        "## Soak",
        "",
        f"RSS slope per worker by linear regression over its samples (target < {limit_mb_per_h:g} MB/hour).",
        "",
        "| engine | worker | samples | span min | first MB | last MB | slope MB/hour | target |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for t in trends:
        ok = not math.isnan(t.slope_mb_per_h) and t.slope_mb_per_h < limit_mb_per_h
        lines.append(
            f"| {t.engine} | {t.worker} | {t.samples} | {t.span_s / 60:.1f} | {t.first_mb:.0f} "
            f"| {t.last_mb:.0f} | {t.slope_mb_per_h:+.2f} | {'pass' if ok else '**FAIL**'} |"
        )
    lines += [
        "",
        "Latency drift, all priorities (P50 / P95 / P99 s of 2xx answers):",
        f"first window {_lat(first)} (n={first.n}); last window {_lat(last)} (n={last.n}).",
    ]
    return "\n".join(lines) + "\n"


def plot_scenario(
    path: Path,
    title: str,
    records: Sequence[RequestRecord],
    faults: Sequence[FaultEvent],
    rss: Sequence[RssSample],
    duration_s: float,
    rss_limits: Sequence[tuple[str, float]] = (),
) -> None:
    """Three panels over time: latency per request (faults marked), engine mix, worker RSS."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    fig, (ax_lat, ax_mix, ax_rss) = plt.subplots(
        3, 1, figsize=(13, 9), sharex=True, gridspec_kw={"height_ratios": [3, 2, 2]}
    )
    end = max([duration_s, *(r.end_s for r in records)])
    for priority in PRIORITIES:
        mine = [r for r in records if r.priority == priority and 200 <= r.status < 300]
        if not mine:
            continue
        ax_lat.scatter(
            [r.start_s for r in mine],
            [r.latency_s for r in mine],
            s=9,
            alpha=0.6,
            color=_PRIORITY_COLOURS[priority],
            label=f"{priority} 2xx",
        )
    bad = [r for r in records if r.status == 0 or r.status >= 500]
    if bad:
        ax_lat.scatter(
            [r.start_s for r in bad],
            [r.latency_s for r in bad],
            s=40,
            marker="x",
            color="red",
            label="5xx / dropped",
        )
    shed = [r for r in records if r.status == 429]
    if shed:
        ax_lat.scatter(
            [r.start_s for r in shed],
            [max(r.latency_s, 1e-3) for r in shed],
            s=6,
            color="grey",
            alpha=0.4,
            label="429",
        )
    ax_lat.axhline(3.0, color="black", linestyle="--", linewidth=1, label="interactive P95 target (3 s)")
    ax_lat.set_yscale("log")
    ax_lat.yaxis.set_major_locator(FixedLocator([0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30, 100]))
    ax_lat.yaxis.set_minor_locator(NullLocator())
    ax_lat.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax_lat.set_ylabel("latency (s, log scale)")
    ax_lat.set_title(title)
    ax_lat.grid(axis="y", alpha=0.3)
    _mark_faults(ax_lat, faults, labelled=True)
    ax_lat.legend(**_LEGEND)

    bin_s = max(1.0, round(end / 40))
    bins = max(1, math.ceil(end / bin_s))
    keys = ["ok:" + e for e in sorted({r.engine for r in records if 200 <= r.status < 300})] + [
        "429",
        "failed",
    ]
    counts = {k: [0.0] * bins for k in keys}
    for r in records:
        k = "429" if r.status == 429 else "failed" if (r.status == 0 or r.status >= 500) else "ok:" + r.engine
        if k in counts:
            counts[k][min(bins - 1, int(r.start_s // bin_s))] += 1 / bin_s
    x = [i * bin_s for i in range(bins)]
    bottom = [0.0] * bins
    palette = ["#2ca02c", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f"]
    for i, k in enumerate(keys):
        colour = {"429": "#bbbbbb", "failed": "red"}.get(k, palette[i % len(palette)])
        label = k.removeprefix("ok:") + (" (2xx)" if k.startswith("ok:") else "")
        ax_mix.bar(x, counts[k], width=bin_s, bottom=bottom, align="edge", color=colour, label=label)
        bottom = [b + c for b, c in zip(bottom, counts[k], strict=True)]
    ax_mix.set_ylabel(f"requests/s by outcome\n(by send time, {bin_s:g} s bins)")
    _mark_faults(ax_mix, faults)
    ax_mix.legend(**_LEGEND)

    series: dict[tuple[str, str], list[RssSample]] = {}
    for s in rss:
        series.setdefault((s.engine, s.worker), []).append(s)
    for (engine, worker), points in sorted(series.items()):
        ax_rss.plot(
            [p.t_s for p in points], [p.rss_mb for p in points], linewidth=1.2, label=f"{engine} {worker}"
        )
    for name, mb in rss_limits:
        ax_rss.axhline(mb, color="black", linestyle=":", linewidth=1)
        ax_rss.annotate(name, (0, mb), xytext=(2, 2), textcoords="offset points", fontsize=8)
    ax_rss.set_ylabel("worker RSS (MB)")
    ax_rss.set_xlabel("seconds since the scenario started")
    _mark_faults(ax_rss, faults)
    if series:
        ax_rss.legend(**(_LEGEND | {"ncol": 1 + len(series) // 9}))
    ax_rss.set_xlim(0, end)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _mark_faults(ax: object, faults: Sequence[FaultEvent], *, labelled: bool = False) -> None:
    seen: set[str] = set()
    for fault in faults:
        colour = _FAULT_COLOURS.get(fault.kind)
        if colour is None:
            continue
        label = fault.kind if labelled and fault.kind not in seen else None
        seen.add(fault.kind)
        ax.axvline(fault.t_s, color=colour, alpha=0.5, linewidth=1, label=label)  # type: ignore[attr-defined]

"""The SLA bench's report on the ``/healthz`` probe and the hostile clients (scenarios 7 and 8).

A section of ``summary.md`` (after the main tables; empty when no scenario probed or attacked)
and a CSV of every attacker attempt.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import asdict, fields
from pathlib import Path

from _sla_attack import ATTACKS, AttackRecord
from _sla_probe import HEALTHZ_P99_MS
from _sla_stats import Summary

_EXPECT = {spec.kind: spec.expect for spec in ATTACKS}


def write_attacks(path: Path, records: Sequence[AttackRecord]) -> None:
    """One CSV row per attacker attempt, columns as :class:`AttackRecord`'s fields."""
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=[f.name for f in fields(AttackRecord)])
        writer.writeheader()
        for record in records:
            writer.writerow(asdict(record))


def _ms(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.0f}"


def render_hostile(summaries: Sequence[Summary]) -> str:
    """Markdown: the ``/healthz`` probe per scenario, the attackers' outcomes, the server's own count.

    Returns:
        The section, or ``""`` when no scenario had a probe or attackers.
    """
    probed = [s for s in summaries if s.health is not None]
    attacked = [s for s in summaries if s.attacks]
    if not probed and not attacked:
        return ""
    lines = [
        "",
        "## /healthz beside the load",
        "",
        "`GET /healthz` every 100 ms from its own connections, open model (target P99 ≤",
        f"{HEALTHZ_P99_MS:g} ms; a probe without a 200 counts as failed, with the time it took).",
        "",
        "| scenario | probes | failed | P50 ms | P99 ms | max ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for s in probed:
        h = s.health
        assert h is not None
        lines.append(
            f"| {s.title} | {h.n} | {h.failed} | {_ms(h.p50_ms)} | {_ms(h.p99_ms)} | {_ms(h.max_ms)} |"
        )
    if attacked:
        lines += [
            "",
            "## Hostile clients",
            "",
            "Each attacker's attempts and how they ended (status and error code; 0: no HTTP answer),",
            "seconds from the first byte sent to the end, and what a robust server answers.",
            "",
            "| scenario | attacker | attempts | outcomes | P50 / max s | expected |",
            "|---|---|---:|---|---|---|",
        ]
        for s in attacked:
            for a in s.attacks:
                outcomes = ", ".join(f"{k} × {v}" for k, v in a.outcomes.items())
                lines.append(
                    f"| {s.title} | {a.kind} | {a.n} | {outcomes} | {a.p50_s:.2f} / {a.max_s:.2f} "
                    f"| {_EXPECT.get(a.kind, '')} |"
                )
        lines += [
            "",
            "Requests the server itself recorded during the scenario, by outcome (all traffic):",
            "",
        ]
        for s in attacked:
            counts = ", ".join(f"{k} {v}" for k, v in s.server_outcomes.items()) or "–"
            lines.append(f"- {s.title}: {counts}")
    return "\n".join(lines) + "\n"

"""Valid but expensive input under load: a lexicon at its entry cap, SSML documents at the size limit.

    nice -n 5 .venv/bin/python bench/input_load.py                      # every scenario, 20 s each
    nice -n 5 .venv/bin/python bench/input_load.py --only ssml-breaks --clients 1 --seconds 30

Starts ``voxgate serve`` (kokoro off, audio cache off, rate limits off; piper and espeak with their
default workers) on 127.0.0.1. Each scenario runs for ``--seconds``:

- ``--clients`` closed-loop clients (priority ``api``) send the scenario's request, each one
  different (the planner remembers the preparation of a text it has seen, and the work is what is
  measured);
- beside them, the legitimate interactive traffic: one short English sentence (voice ``joe``,
  priority ``interactive``) every 1.5 s, open model (it leaves on time whatever the others do);
- ``/healthz`` probed every 100 ms (``bench/_sla_probe.py``), and the gateway's RSS sampled.

Scenarios (``--only`` takes a comma-separated list):

  baseline       the interactive traffic alone
  lexicon-empty  clients send ~200-character English texts; the lexicon is empty
  lexicon-cap    the same, after ``PUT /api/v1/lexicon`` with ``text.lexicon_max_entries`` entries
                 (every word of the texts has one; every third entry is IPA, so each request
                 takes the phoneme path); the front end's cost per request is also timed in
                 this process, with and without that lexicon
  ssml-voices    SSML at the markup limit (4 × ``text.max_chars``) switching ``<voice>`` between
                 joe and espeak-en-us every two words
  ssml-nested    SSML at the limit: 64-deep nesting (the limit) of prosody / emphasis, repeated
  ssml-breaks    SSML at the limit that is mostly ``<break time="10s"/>``: as much silence as
                 the markup can ask for

Prints one Markdown table: scenario → hostile requests, their statuses and P95; the interactive
requests, their 5xx, fallback share and P95; ``/healthz`` P99, max and failures; the gateway's peak
RSS. The SLA verdict is the interactive traffic's: P95 ≤ 3 s, no 5xx, every probe 200 within 100 ms
at P99.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from _http_server import voxgate_server
from _scenarios import QUIET_SERVER_ENV, chosen_scenarios, scenario_parser, table
from _sla_probe import health_stats, probe_health
from _sla_stats import quantile

DATA = Path(__file__).resolve().parent / "data"
MAX_CHARS = 4096
MARKUP_LIMIT = 4 * MAX_CHARS
LEXICON_CAP = 1000
INTERACTIVE_EVERY_S = 1.5
REQUEST_TIMEOUT_S = 120.0
SCENARIOS = ("baseline", "lexicon-empty", "lexicon-cap", "ssml-voices", "ssml-nested", "ssml-breaks")


def sentences() -> list[str]:
    """The Harvard sentences (bench/data)."""
    lines = (DATA / "harvard_lists_1_3.txt").read_text("utf-8").splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]


def words_of(texts: list[str]) -> list[str]:
    """The distinct words of ``texts``, lower case, in order of first use."""
    seen: dict[str, None] = {}
    for text in texts:
        for raw in text.split():
            word = raw.strip(".,;:!?'\"").lower()
            if word.isalpha():
                seen.setdefault(word, None)
    return list(seen)


def lexicon_entries(words: list[str], cap: int) -> list[dict[str, str]]:
    """``cap`` entries: every word in ``words`` (every third as IPA), then filler words."""
    picked = (words + [f"zq{i}x" for i in range(cap)])[:cap]
    return [
        {"word": w, "ipa": "təˈmɑːtəʊ"} if i % 3 == 0 else {"word": w, "say": w + "s"}
        for i, w in enumerate(picked)
    ]


def plain_text(lines: list[str], i: int, chars: int = 200) -> str:
    """About ``chars`` characters of Harvard sentences, different for each ``i``."""
    rng = random.Random(i)
    out = ""
    while len(out) < chars:
        out += rng.choice(lines) + " "
    return out.strip()


def ssml_voices(lines: list[str], i: int) -> str:
    """A document at the markup limit that changes voice every two words."""
    words = " ".join(lines[(i + k) % len(lines)] for k in range(60)).split()
    parts, k = [], 0
    while True:
        voice = "joe" if k % 2 == 0 else "espeak-en-us"
        part = (
            f'<voice name="{voice}">{words[(2 * k) % len(words)]} {words[(2 * k + 1) % len(words)]}</voice>'
        )
        if sum(map(len, parts)) + len(part) + 16 > MARKUP_LIMIT:
            break
        parts.append(part)
        k += 1
    return "<speak>" + "".join(parts) + "</speak>"


def ssml_nested(lines: list[str], i: int) -> str:
    """A document at the markup limit made of 64-deep nests of prosody and emphasis."""
    opens = "".join('<prosody rate="95%">' if d % 2 else "<emphasis>" for d in range(63))
    closes = "".join("</prosody>" if d % 2 else "</emphasis>" for d in reversed(range(63)))
    parts, k = [], 0
    while True:
        part = opens + lines[(i + k) % len(lines)] + closes
        if sum(map(len, parts)) + len(part) + 16 > MARKUP_LIMIT:
            break
        parts.append(part)
        k += 1
    return "<speak>" + "".join(parts) + "</speak>"


def ssml_breaks(lines: list[str], i: int) -> str:
    """A document at the markup limit that is mostly ten-second breaks after one sentence."""
    head = "<speak>" + lines[i % len(lines)]
    brk = '<break time="10s"/>'
    count = (MARKUP_LIMIT - len(head) - len("</speak>")) // len(brk)
    return head + brk * count + "</speak>"


@dataclass(slots=True)
class Outcome:
    """What the requests of one stream got."""

    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    degraded: int = 0

    def add(self, status: int, seconds: float, degraded: bool) -> None:
        self.statuses[status] += 1
        self.latencies.append(seconds)
        self.degraded += degraded


async def post(client: httpx.AsyncClient, body: dict[str, object], into: Outcome) -> None:
    """One request; a timeout or a dropped connection counts as status 0."""
    started = time.perf_counter()
    try:
        answer = await client.post("/api/v1/tts", json=body)
        status, degraded = answer.status_code, answer.headers.get("x-voxgate-degraded") == "true"
    except httpx.HTTPError:
        status, degraded = 0, False
    into.add(status, time.perf_counter() - started, degraded)


async def scenario(
    url: str, pid: int, name: str, seconds: float, clients: int, make: Callable[[int], str] | None
) -> dict[str, object]:
    """Run one scenario; returns its table row."""
    lines = sentences()
    hostile, legit = Outcome(), Outcome()
    rss: list[int] = []
    limits = httpx.Limits(max_connections=100)
    async with httpx.AsyncClient(base_url=url, timeout=REQUEST_TIMEOUT_S, limits=limits) as client:
        gateway = psutil.Process(pid)
        t0 = time.perf_counter()
        end = t0 + seconds

        async def attacker(c: int) -> None:
            k = 0
            while make is not None and time.perf_counter() < end:
                body = {"text": make(1000 * c + k), "voice": "joe", "format": "wav", "priority": "api"}
                await post(client, body, hostile)
                k += 1

        async def interactive() -> None:
            tasks = []
            for k in range(int(seconds / INTERACTIVE_EVERY_S)):
                await asyncio.sleep(max(0.0, t0 + k * INTERACTIVE_EVERY_S - time.perf_counter()))
                body = {"text": lines[(7 * k) % len(lines)], "voice": "joe", "format": "wav"}
                tasks.append(asyncio.ensure_future(post(client, {**body, "priority": "interactive"}, legit)))
            await asyncio.gather(*tasks)

        async def sample_rss() -> None:
            while time.perf_counter() < end:
                rss.append(gateway.memory_info().rss)
                await asyncio.sleep(0.5)

        probes, *_ = await asyncio.gather(
            probe_health(url, t0, seconds),
            interactive(),
            sample_rss(),
            *(attacker(c) for c in range(clients if make is not None else 0)),
        )
    health = health_stats(probes)
    legit_5xx = sum(n for s, n in legit.statuses.items() if s >= 500 or s == 0)
    p95 = quantile(legit.latencies, 0.95)
    ok = p95 <= 3.0 and legit_5xx == 0 and health.ok
    return {
        "scenario": name,
        "hostile": len(hostile.latencies),
        "hostile_status": dict(sorted(hostile.statuses.items())),
        "hostile_p95_s": round(quantile(hostile.latencies, 0.95), 2) if hostile.latencies else None,
        "interactive": len(legit.latencies),
        "interactive_5xx": legit_5xx,
        "fallback_pct": round(100 * legit.degraded / max(1, len(legit.latencies)), 1),
        "interactive_p95_s": round(p95, 2),
        "healthz_p99_ms": round(health.p99_ms),
        "healthz_max_ms": round(health.max_ms),
        "healthz_failed": health.failed,
        "gateway_rss_peak_mb": round(max(rss, default=0) / 2**20),
        "verdict": "PASS" if ok else "FAIL",
    }


def front_end_cost(entries: list[dict[str, str]], texts: list[str]) -> dict[str, float]:
    """CPU time of the front end per text (ms, median), without and with the capped lexicon."""
    from voxgate.lexicons import entries_from_json
    from voxgate.text import prepare
    from voxgate.text.lexicon import Lexicon
    from voxgate.text.ssml_prepare import prepare_ssml

    lexicon = Lexicon(entries_from_json(entries))

    def with_lexicon(text: str) -> None:
        if not lexicon.matches(text):
            prepare(text, max_chars=MAX_CHARS, max_segment_chars=250)
        elif not lexicon.has_phonemes(text):
            prepare(lexicon.substitute(text), max_chars=MAX_CHARS, max_segment_chars=250)
        else:
            prepare_ssml(lexicon.document(text), max_chars=MAX_CHARS, max_segment_chars=250)

    def timed(run: Callable[[str], object]) -> float:
        spent = []
        for text in texts:
            started = time.process_time()
            run(text)
            spent.append(time.process_time() - started)
        return round(1000 * statistics.median(spent), 2)

    plain = timed(lambda t: prepare(t, max_chars=MAX_CHARS, max_segment_chars=250))
    return {"empty_ms": plain, "cap_ms": timed(with_lexicon)}


def ssml_cost(make: Callable[[int], str], count: int = 10) -> float:
    """CPU time (ms, median) of parsing and preparing ``count`` documents from ``make``, in this process."""
    from voxgate.errors import InvalidInput
    from voxgate.text.ssml import parse_ssml
    from voxgate.text.ssml_prepare import prepare_ssml

    spent = []
    for i in range(count):
        document = make(i)
        started = time.process_time()
        with contextlib.suppress(InvalidInput):
            parsed = parse_ssml(document, known_voice=lambda _voice: True)
            prepare_ssml(parsed, max_chars=MAX_CHARS, max_segment_chars=250)
        spent.append(time.process_time() - started)
    return round(1000 * statistics.median(spent), 1)


async def run(url: str, pid: int, only: list[str], seconds: float, clients: int) -> list[dict[str, object]]:
    """Every chosen scenario, one after the other."""
    lines = sentences()
    makers: dict[str, Callable[[int], str] | None] = {
        "baseline": None,
        "lexicon-empty": lambda i: plain_text(lines, i),
        "lexicon-cap": lambda i: plain_text(lines, i),
        "ssml-voices": lambda i: ssml_voices(lines, i),
        "ssml-nested": lambda i: ssml_nested(lines, i),
        "ssml-breaks": lambda i: ssml_breaks(lines, i),
    }
    rows = []
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        for name in only:
            entries = lexicon_entries(words_of(lines), LEXICON_CAP) if name == "lexicon-cap" else []
            answer = await http.put("/api/v1/lexicon", json={"entries": entries})
            answer.raise_for_status()
            row = await scenario(url, pid, name, seconds, clients, makers[name])
            if name.startswith("lexicon"):
                texts = [plain_text(lines, i) for i in range(200)] + [
                    plain_text(lines, i, 4000) for i in range(5)
                ]
                cost = front_end_cost(lexicon_entries(words_of(lines), LEXICON_CAP), texts)
                row["front_end_ms"] = f"{cost['empty_ms']} / {cost['cap_ms']} (empty / cap)"
            maker = makers[name]
            if name.startswith("ssml") and maker is not None:
                row["front_end_ms"] = ssml_cost(maker)
            rows.append(row)
            print(json.dumps(row, ensure_ascii=False), flush=True)
    return rows


def main() -> int:
    """Start the server, run the scenarios, print the table; exit 1 if one missed the SLA."""
    parser = scenario_parser(__doc__, SCENARIOS)
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds per scenario")
    parser.add_argument("--clients", type=int, default=2, help="closed-loop hostile clients")
    args = parser.parse_args()
    only = chosen_scenarios(parser, args, SCENARIOS)
    env = {
        **QUIET_SERVER_ENV,
        "VOXGATE_ENGINES__KOKORO__ENABLED": "false",
        "VOXGATE_QOS__LIMITS__DEFAULT": "1000000/minute",
        "VOXGATE_QOS__LIMITS__DAILY_CHARS": "0",
        "VOXGATE_TEXT__LEXICON_MAX_ENTRIES": str(LEXICON_CAP),
    }
    with (
        tempfile.TemporaryDirectory() as tmp,
        voxgate_server(Path(tmp), Path(tmp) / "server.log", env) as srv,
    ):
        rows = asyncio.run(run(srv.url, srv.pid, only, args.seconds, args.clients))
    print()
    print(table(rows))
    return 0 if all(row["verdict"] == "PASS" for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

"""GET /metrics on the real app: exposition format, latency histograms, cache, sheds, worker events."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from voxgate.api.metrics import Metrics
from voxgate.api.middleware import AccessRecord
from voxgate.qos.breaker import BreakerState
from voxgate.qos.router import EngineSkipped, Outcome
from voxgate.settings import Settings
from voxgate.types import Priority
from voxgate.wiring import build_synthesizer
from voxgate.workers.events import ExitReason, WorkerExited, WorkerRss

MAIN_KEY, TINY_KEY = "m" * 32, "t" * 32
MAIN = {"Authorization": f"Bearer {MAIN_KEY}"}
TINY = {"Authorization": f"Bearer {TINY_KEY}"}
ENGINES = ("piper", "espeak")
PRIORITIES = ("interactive", "api", "batch")


@pytest.fixture(scope="module")
def client(
    make_client: Callable[[Settings], TestClient], api_settings: Callable[..., Settings]
) -> TestClient:
    """piper and espeak (one worker each); key "main" is unlimited, key "tiny" may make 1 request a minute."""
    keys = {
        "main": {"key": MAIN_KEY, "priorities": list(PRIORITIES)},
        "tiny": {"key": TINY_KEY, "rate_limit": "1/minute"},
    }
    return make_client(api_settings(server={"api_keys": keys}))


def _scrape(client: TestClient) -> dict[str, Any]:
    response = client.get("/metrics", headers=MAIN)
    assert response.status_code == 200
    return {family.name: family for family in text_string_to_metric_families(response.text)}


def _value(client: TestClient, family: str, sample: str, **labels: str) -> float:
    """A sample's value (0 when the series does not exist yet)."""
    found = _scrape(client).get(family)
    for s in found.samples if found is not None else ():
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
            return float(s.value)
    return 0.0


def _wait_for(predicate: Callable[[], bool], timeout_s: float) -> bool:
    give_up = time.monotonic() + timeout_s
    while time.monotonic() < give_up:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def _tts(client: TestClient, text: str, headers: dict[str, str] = MAIN, **fields: Any) -> httpx.Response:
    return client.post("/api/v1/tts", json={"text": text, "voice": "joe", **fields}, headers=headers)


def _families(metrics: Metrics) -> dict[str, Any]:
    body, _ = asyncio.run(metrics.render())
    return {family.name: family for family in text_string_to_metric_families(body.decode())}


def test_each_app_has_its_own_registry() -> None:
    """Two Metrics never share series (no process-wide default registry)."""
    first, second = Metrics(), Metrics()
    first.observe_http(AccessRecord("r", "GET", "/healthz", "/healthz", 200, 0.01, None, 15, True))
    first_count = _families(first)["voxgate_http_request_duration_seconds"].samples
    assert any(s.name.endswith("_count") and s.value == 1 for s in first_count)
    assert _families(second)["voxgate_http_request_duration_seconds"].samples == []


def test_bus_events_feed_the_counters(data_dir: Path) -> None:
    """Breaker transitions, engine skips, worker exits and RSS samples become series; detach stops it."""
    synth = build_synthesizer(Settings.load(data_dir=data_dir, engines={"kokoro": {"enabled": False}}))
    metrics = Metrics()
    metrics.attach(synth)
    synth.breakers.get("piper").transition_to(BreakerState.OPEN)  # a real transition publishes its event
    synth.bus.publish(EngineSkipped("piper", Outcome.BREAKER_OPEN, Priority.API))
    synth.bus.publish(WorkerRss("espeak", 7, 1234, 40.0))
    synth.bus.publish(WorkerRss("espeak", 8, 1235, 41.0))
    synth.bus.publish(WorkerExited("espeak", 7, 1234, ExitReason.MEMORY_HARD, -9, 40.0))
    synth.bus.publish(WorkerExited("espeak", 8, 1235, ExitReason.SHUTDOWN, 0, 41.0))
    families = _families(metrics)
    assert {(s.labels["engine"], s.value) for s in families["voxgate_breaker_state"].samples} == {
        ("piper", 2.0),
        ("espeak", 0.0),
    }
    transitions = [s for s in families["voxgate_breaker_transitions"].samples if s.name.endswith("_total")]
    assert [(s.labels, s.value) for s in transitions] == [
        ({"engine": "piper", "from_state": "closed", "to_state": "open"}, 1.0)
    ]
    skips = [s for s in families["voxgate_engine_skips"].samples if s.name.endswith("_total")]
    assert [(s.labels, s.value) for s in skips] == [({"engine": "piper", "outcome": "breaker_open"}, 1.0)]
    restarts = [s for s in families["voxgate_worker_restarts"].samples if s.name.endswith("_total")]
    assert [(s.labels, s.value) for s in restarts] == [({"engine": "espeak", "reason": "memory_hard"}, 1.0)]
    assert families["voxgate_worker_rss_bytes"].samples == []  # both workers are gone
    metrics.detach()
    synth.bus.publish(EngineSkipped("piper", Outcome.BREAKER_OPEN, Priority.API))
    skips = [s for s in _families(metrics)["voxgate_engine_skips"].samples if s.name.endswith("_total")]
    assert [s.value for s in skips] == [1.0]


def test_poisoned_inputs_are_counted_per_engine_and_classes(data_dir: Path) -> None:
    """Each threshold an input's worker deaths cross on an engine moves voxgate_poisoned_inputs_total."""
    synth = build_synthesizer(Settings.load(data_dir=data_dir, engines={"kokoro": {"enabled": False}}))
    metrics = Metrics()
    metrics.attach(synth)
    key = synth.router.poison.key("piper", "joe", "en", "a sentence that kills piper")
    synth.router.poison.record_death(key, "piper")  # 1 death: batch no longer sends it
    synth.router.poison.record_death(key, "piper")  # 2 deaths: nobody does
    poisoned = [s for s in _families(metrics)["voxgate_poisoned_inputs"].samples if s.name.endswith("_total")]
    assert sorted((s.labels["priorities"], s.value) for s in poisoned) == [
        ("batch", 1.0),
        ("interactive,api,batch", 1.0),
    ]
    metrics.detach()


def test_exposition_parses_with_state_gauges(client: TestClient) -> None:
    """/metrics is Prometheus text with queue, in-flight, breaker, readiness and cache series per engine."""
    response = client.get("/metrics", headers=MAIN)
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    assert families["voxgate_http_request_duration_seconds"].type == "histogram"
    assert families["voxgate_synthesis_duration_seconds"].type == "histogram"
    queued = {
        (s.labels["engine"], s.labels["priority"]): s.value for s in families["voxgate_queue_depth"].samples
    }
    assert queued == {(e, p): 0.0 for e in ENGINES for p in PRIORITIES}
    for name in (
        "voxgate_in_flight",
        "voxgate_breaker_state",
        "voxgate_engine_ready",
        "voxgate_engine_capacity",
    ):
        assert {s.labels["engine"] for s in families[name].samples} == set(ENGINES), name
    assert {s.value for s in families["voxgate_breaker_state"].samples} == {0.0}  # closed
    assert {s.value for s in families["voxgate_engine_ready"].samples} == {1.0}
    assert families["voxgate_cache_hits"].type == "counter"
    assert families["voxgate_cache_max_bytes"].samples[0].value > 0


def test_openmetrics_on_request(client: TestClient) -> None:
    """A scraper that asks for OpenMetrics gets it."""
    response = client.get(
        "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0", **MAIN}
    )
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")


def test_worker_rss_arrives_from_the_watchdog(client: TestClient) -> None:
    """The pools' watchdog samples reach the bus: every engine's worker has an RSS gauge."""

    def rss() -> dict[str, float]:
        family = _scrape(client).get("voxgate_worker_rss_bytes")
        return {s.labels["engine"]: s.value for s in family.samples} if family else {}

    assert _wait_for(lambda: set(rss()) == set(ENGINES), 5.0), rss()
    assert all(value > 5 * 2**20 for value in rss().values())


def test_tts_request_moves_the_latency_histograms(client: TestClient) -> None:
    """A TTS request adds one observation for its route and engine, and one for its priority and outcome."""
    http = {"method": "POST", "route": "/api/v1/tts", "status": "200", "engine": "piper"}
    synth = {"engine": "piper", "priority": "interactive", "outcome": "ok", "cache": "miss"}
    http_before = _value(
        client, "voxgate_http_request_duration_seconds", "voxgate_http_request_duration_seconds_count", **http
    )
    synth_before = _value(
        client, "voxgate_synthesis_duration_seconds", "voxgate_synthesis_duration_seconds_count", **synth
    )
    response = _tts(client, "Metrics count this one sentence.", priority="interactive")
    assert response.status_code == 200
    assert response.headers["x-voxgate-engine"] == "piper"
    http_after = _value(
        client, "voxgate_http_request_duration_seconds", "voxgate_http_request_duration_seconds_count", **http
    )
    synth_after = _value(
        client, "voxgate_synthesis_duration_seconds", "voxgate_synthesis_duration_seconds_count", **synth
    )
    assert (http_after - http_before, synth_after - synth_before) == (1.0, 1.0)
    total = _value(
        client, "voxgate_http_request_duration_seconds", "voxgate_http_request_duration_seconds_sum", **http
    )
    assert total > 0


def test_repeated_request_moves_the_cache_hit_counter(client: TestClient) -> None:
    """The same request twice: the second is a cache hit in the store's counters and in the histogram."""
    text = "The cache answers this sentence the second time."
    hits_before = _value(client, "voxgate_cache_hits", "voxgate_cache_hits_total")
    labels = {"engine": "piper", "priority": "api", "outcome": "ok", "cache": "hit"}
    hit_obs_before = _value(
        client, "voxgate_synthesis_duration_seconds", "voxgate_synthesis_duration_seconds_count", **labels
    )
    assert _tts(client, text).headers["x-voxgate-cache"] == "miss"
    assert _value(client, "voxgate_cache_hits", "voxgate_cache_hits_total") == hits_before
    assert _tts(client, text).headers["x-voxgate-cache"] == "hit"
    assert _value(client, "voxgate_cache_hits", "voxgate_cache_hits_total") == hits_before + 1
    hit_obs_after = _value(
        client, "voxgate_synthesis_duration_seconds", "voxgate_synthesis_duration_seconds_count", **labels
    )
    assert hit_obs_after == hit_obs_before + 1
    assert _value(client, "voxgate_cache_items", "voxgate_cache_items") >= 1


def test_refused_request_counts_as_a_shed(client: TestClient) -> None:
    """A client over its rate limit is shed: counted by reason and priority, and observed as rejected."""
    shed = {"reason": "rate_limit", "priority": "api"}
    before = _value(client, "voxgate_shed", "voxgate_shed_total", **shed)
    assert _tts(client, "The tiny client speaks once.", headers=TINY).status_code == 200
    assert _tts(client, "The tiny client speaks twice.", headers=TINY).status_code == 429
    assert _value(client, "voxgate_shed", "voxgate_shed_total", **shed) == before + 1
    rejected = {"engine": "none", "priority": "api", "outcome": "rejected", "cache": "miss"}
    assert (
        _value(
            client,
            "voxgate_synthesis_duration_seconds",
            "voxgate_synthesis_duration_seconds_count",
            **rejected,
        )
        >= 1
    )
    http = {"route": "/api/v1/tts", "status": "429", "engine": "none"}
    assert (
        _value(
            client,
            "voxgate_http_request_duration_seconds",
            "voxgate_http_request_duration_seconds_count",
            **http,
        )
        >= 1
    )


def test_unmatched_paths_share_one_route_label(client: TestClient) -> None:
    """Unknown API paths are labelled by the route that caught them, never by the raw path."""
    client.post("/no/such/path/12345")
    scraped = _scrape(client)["voxgate_http_request_duration_seconds"]
    routes = {s.labels["route"] for s in scraped.samples}
    assert not any("12345" in route for route in routes)


def test_sigkilled_worker_counts_as_a_crashed_restart(client: TestClient) -> None:
    """A worker killed from outside shows up in the restarts counter (reason crashed) within seconds."""
    labels = {"engine": "espeak", "reason": "crashed"}
    before = _value(client, "voxgate_worker_restarts", "voxgate_worker_restarts_total", **labels)
    workers = client.get("/api/v1/sla", headers=MAIN).json()["engines"]["espeak"]["workers"]
    victim = next(w for w in workers if w["pid"] is not None)
    os.kill(victim["pid"], signal.SIGKILL)

    def counted() -> bool:
        return (
            _value(client, "voxgate_worker_restarts", "voxgate_worker_restarts_total", **labels) >= before + 1
        )

    assert _wait_for(counted, 15.0)

    def replaced() -> bool:
        family = _scrape(client)["voxgate_worker_rss_bytes"]
        ids = {s.labels["worker"] for s in family.samples if s.labels["engine"] == "espeak"}
        return str(victim["worker_id"]) not in ids and client.get("/readyz").status_code == 200

    assert _wait_for(replaced, 30.0)  # the dead worker's gauge is gone; its replacement is warm

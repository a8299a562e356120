"""Keys on every route, the metrics token, and per-key entitlements (priorities, shortest deadline).

The route list comes from the app itself, so a route added later is covered without editing this.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from starlette.routing import Mount

from voxgate.api import create_app
from voxgate.settings import Settings

KEYS = {"basic": "basic-key-0123456789", "vip": "vip-key-0123456789ab", "bulk": "bulk-key-0123456789a"}
METRICS_TOKEN = "metrics-token-0123456789"
PUBLIC = {"/healthz", "/readyz"}
ESPEAK_ONLY: dict[str, Any] = {"piper": {"enabled": False}}


def _headers(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS.get(key, key)}"} if key else {}


@pytest.fixture(scope="module")
def keyed(make_client: Callable[[Settings], TestClient], api_settings: Callable[..., Settings]) -> TestClient:
    """An app with three keys (default, interactive with a 200 ms floor, batch only) and a metrics token."""
    return make_client(
        api_settings(
            engines=ESPEAK_ONLY,
            server={
                "api_keys": {
                    "basic": {"key": KEYS["basic"]},
                    "vip": {"key": KEYS["vip"], "priorities": ["interactive", "api"], "min_deadline_ms": 200},
                    "bulk": {"key": KEYS["bulk"], "priorities": ["batch"]},
                },
                "metrics_token": METRICS_TOKEN,
            },
        )
    )


def _routes() -> Iterator[tuple[str, str]]:
    """(method, concrete path) of every route the app serves, path parameters filled in."""
    app = create_app(Settings())  # not started: only its route table is read
    for route in iter_route_contexts(app.routes):
        if isinstance(route.route, Mount) or route.path is None:
            continue
        path = re.sub(r"\{[^}]+\}", "1", route.path)
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                yield method, path


ROUTES = sorted(set(_routes()))


def test_the_route_table_is_not_empty() -> None:
    """The parametrisation below covers the API, the OpenAI routes, jobs, metrics and the docs."""
    paths = {path for _, path in ROUTES}
    assert {"/api/v1/tts", "/api/v1/voices", "/api/v1/sla", "/metrics", "/docs", "/openapi.json"} <= paths
    assert {"/v1/audio/speech", "/v1/models", "/api/v1/jobs"} <= paths


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_every_route_but_the_probes_needs_a_key(keyed: TestClient, method: str, path: str) -> None:
    """Without a key (or with a wrong one) 401 with a JSON error; with a key, anything but 401."""
    body = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
    for key in (None, "wrong-key-0123456789"):
        response = keyed.request(method, path, headers=_headers(key), **body)
        if path in PUBLIC:
            assert response.status_code != 401
            continue
        assert response.status_code == 401, (key, response.text)
        assert response.json()["error"]["code"] == "invalid_api_key"
        assert response.headers["www-authenticate"] == "Bearer"
    assert keyed.request(method, path, headers=_headers("basic"), **body).status_code != 401


def test_the_web_ui_shell_stays_public_and_its_data_does_not(keyed: TestClient) -> None:
    """HTML, JS and CSS load without a key (the page asks for one); the voices it lists do not."""
    page = keyed.get("/")
    assert page.status_code == 200
    assert "api-key" in page.text
    assert keyed.get("/app.js").status_code == 200
    assert keyed.get("/style.css").status_code == 200
    assert keyed.get("/api/v1/voices").status_code == 401


def test_the_metrics_token_opens_metrics_and_nothing_else(keyed: TestClient) -> None:
    """A scraper's token reads /metrics; an API key does too; the token is refused everywhere else."""
    assert keyed.get("/metrics", headers=_headers(METRICS_TOKEN)).status_code == 200
    assert keyed.get("/metrics", headers=_headers("basic")).status_code == 200
    assert keyed.get("/metrics").status_code == 401
    assert keyed.get("/api/v1/sla", headers=_headers(METRICS_TOKEN)).status_code == 401


def test_a_metrics_token_guards_metrics_even_without_keys(
    make_client: Callable[[Settings], TestClient], api_settings: Callable[..., Settings]
) -> None:
    """Keyless server with a metrics token: /metrics needs it, the API stays open."""
    client = make_client(api_settings(engines=ESPEAK_ONLY, server={"metrics_token": METRICS_TOKEN}))
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=_headers(METRICS_TOKEN)).status_code == 200
    assert client.get("/api/v1/voices").status_code == 200


def _tts(client: TestClient, key: str | None, **fields: Any) -> Any:
    return client.post("/api/v1/tts", json={"text": "Hi.", "format": "pcm", **fields}, headers=_headers(key))


@pytest.mark.parametrize(
    ("key", "fields", "field"),
    [
        ("basic", {"priority": "interactive"}, "priority"),
        ("basic", {"deadline_ms": 500}, "deadline_ms"),
        ("vip", {"priority": "batch"}, "priority"),
        ("vip", {"deadline_ms": 150}, "deadline_ms"),
        ("bulk", {}, "priority"),  # the default priority (api) is not among bulk's
    ],
)
def test_a_priority_or_deadline_the_key_lacks_is_refused_naming_the_field(
    keyed: TestClient, key: str, fields: dict[str, Any], field: str
) -> None:
    """403 with a JSON error naming ``priority`` or ``deadline_ms``; nothing is synthesised."""
    response = _tts(keyed, key, **fields)
    assert response.status_code == 403, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("not_entitled", field)


@pytest.mark.parametrize(
    ("key", "fields"),
    [
        ("basic", {"priority": "api", "deadline_ms": 1000}),
        ("basic", {"priority": "batch"}),
        ("vip", {"priority": "interactive", "deadline_ms": 200}),
        ("bulk", {"priority": "batch"}),
    ],
)
def test_entitled_requests_are_answered(keyed: TestClient, key: str, fields: dict[str, Any]) -> None:
    """What a key may ask for is answered."""
    response = _tts(keyed, key, **fields)
    assert response.status_code == 200, response.text


def test_voices_tell_each_caller_its_own_entitlements(keyed: TestClient) -> None:
    """GET /api/v1/voices ``limits``: the caller's priorities and shortest deadline (the UI reads them)."""
    vip = keyed.get("/api/v1/voices", headers=_headers("vip")).json()["limits"]
    basic = keyed.get("/api/v1/voices", headers=_headers("basic")).json()["limits"]
    assert (vip["priorities"], vip["min_deadline_ms"]) == (["interactive", "api"], 200)
    assert (basic["priorities"], basic["min_deadline_ms"]) == (["api", "batch"], 1000)


def test_the_openai_route_runs_as_batch_for_a_batch_only_key(keyed: TestClient) -> None:
    """OpenAI clients ask for no priority: api, or batch for a key allowed nothing else."""

    def batch_requests() -> int:
        sla = keyed.get("/api/v1/sla", headers=_headers("basic")).json()
        return int(sla["windows"]["300"]["by_priority"]["batch"]["requests"])

    before = batch_requests()
    body = {"model": "tts-1", "input": "Hi there.", "voice": "alloy", "response_format": "pcm"}
    response = keyed.post("/v1/audio/speech", json=body, headers=_headers("bulk"))
    assert response.status_code == 200, response.text
    assert batch_requests() == before + 1


def test_keyless_entitlements_default_to_every_priority_with_a_deadline_floor(
    make_client: Callable[[Settings], TestClient], api_settings: Callable[..., Settings]
) -> None:
    """Keyless (one local user): interactive is allowed; a deadline under 1 s is refused (deadline_ms)."""
    client = make_client(api_settings(engines=ESPEAK_ONLY))
    assert _tts(client, None, priority="interactive").status_code == 200
    response = _tts(client, None, deadline_ms=300)
    assert response.status_code == 403
    assert response.json()["error"]["field"] == "deadline_ms"


def test_narrowed_keyless_priorities_still_let_the_web_ui_be_interactive(
    make_client: Callable[[Settings], TestClient], api_settings: Callable[..., Settings]
) -> None:
    """keyless.priorities = [api, batch]: scripts may not ask for interactive; the same-origin web UI may."""
    client = make_client(
        api_settings(engines=ESPEAK_ONLY, server={"keyless": {"priorities": ["api", "batch"]}})
    )
    refused = _tts(client, None, priority="interactive")
    assert refused.status_code == 403
    assert refused.json()["error"]["field"] == "priority"
    ui = client.post(
        "/api/v1/tts",
        json={"text": "Hi.", "format": "pcm", "priority": "interactive"},
        headers={"Origin": "http://localhost"},
    )
    assert ui.status_code == 200, ui.text
    # a browser's same-origin GET carries no Origin, but Sec-Fetch-Site
    limits = client.get("/api/v1/voices", headers={"Sec-Fetch-Site": "same-origin"}).json()["limits"]
    assert limits["priorities"] == ["interactive", "api", "batch"]
    assert client.get("/api/v1/voices").json()["limits"]["priorities"] == ["api", "batch"]

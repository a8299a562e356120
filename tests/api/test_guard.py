"""A web page cannot use the local user's browser against a keyless server (CSRF, DNS rebinding).

Refusals are JSON naming the header at fault; curl-like clients (no Origin), the openai client
(tests/api/test_openai_client.py) and the web UI (same origin, tests/web) are unaffected.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from voxgate.settings import Settings

TTS = {"text": "Hi.", "format": "pcm"}


@pytest.fixture(scope="module")
def client(
    make_client: Callable[[Settings], TestClient], api_settings: Callable[..., Settings]
) -> TestClient:
    """A keyless app (espeak only) that also answers to ``tts.lan`` and trusts ``https://app.example``."""
    return make_client(
        api_settings(
            engines={"piper": {"enabled": False}},
            server={"allowed_hosts": ["tts.lan"], "allowed_origins": ["https://app.example"]},
        )
    )


def _refused(response: Any, status: int, code: str, header: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == (code, header)
    assert header in error["message"] or header.lower() in error["message"].lower()


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:8000", "192.168.1.9", "localhost.evil.example"]
)
def test_a_host_outside_the_allow_list_is_refused(client: TestClient, host: str) -> None:
    """DNS rebinding: a foreign Host gets 421 naming Host, on data routes and on the UI alike."""
    for method, path in (("GET", "/api/v1/voices"), ("GET", "/"), ("POST", "/api/v1/tts")):
        response = client.request(method, path, headers={"Host": host}, json=TTS)
        _refused(response, 421, "host_not_allowed", "Host")


@pytest.mark.parametrize(
    "host", ["localhost", "localhost:8000", "127.0.0.1:8000", "[::1]:8000", "ui.localhost", "tts.lan:80"]
)
def test_local_names_the_bind_address_and_allowed_hosts_are_served(client: TestClient, host: str) -> None:
    """localhost names, 127.0.0.1, [::1], *.localhost and server.allowed_hosts are answered."""
    assert client.get("/api/v1/voices", headers={"Host": host}).status_code == 200


def test_probes_answer_any_host(client: TestClient) -> None:
    """/healthz and /readyz answer whatever Host a probe uses (pods are probed by address)."""
    assert client.get("/healthz", headers={"Host": "10.0.0.7:8000"}).status_code == 200
    assert client.get("/readyz", headers={"Host": "10.0.0.7:8000"}).status_code == 200


@pytest.mark.parametrize("origin", ["https://evil.example", "http://localhost:9999", "null"])
def test_a_foreign_origin_may_not_change_anything(client: TestClient, origin: str) -> None:
    """CSRF: POST (JSON or multipart) and DELETE from another origin get 403 naming Origin."""
    headers = {"Origin": origin}
    _refused(client.post("/api/v1/tts", json=TTS, headers=headers), 403, "origin_not_allowed", "Origin")
    upload = client.post("/api/v1/jobs", files={"file": ("a.txt", b"Hello.")}, headers=headers)
    _refused(upload, 403, "origin_not_allowed", "Origin")
    _refused(client.delete("/api/v1/jobs/x", headers=headers), 403, "origin_not_allowed", "Origin")


@pytest.mark.parametrize("origin", ["http://localhost", "https://app.example"])
def test_the_same_origin_and_allowed_origins_may_post(client: TestClient, origin: str) -> None:
    """The server's own pages and server.allowed_origins are answered."""
    assert client.post("/api/v1/tts", json=TTS, headers={"Origin": origin}).status_code == 200


def test_reading_is_not_limited_by_origin(client: TestClient) -> None:
    """A GET carrying a foreign Origin is answered (the browser keeps its answer from the page: no CORS)."""
    assert client.get("/api/v1/voices", headers={"Origin": "https://evil.example"}).status_code == 200


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", b'{"text": "Hi."}'),
        ("text/plain;charset=UTF-8", b'{"text": "Hi."}'),
        ("application/x-www-form-urlencoded", b"text=Hi."),
        (None, b'{"text": "Hi."}'),  # a Blob body without a type: what a page can send cross-site
    ],
)
@pytest.mark.parametrize("path", ["/api/v1/tts", "/api/v1/jobs", "/v1/audio/speech"])
def test_bodies_a_page_could_send_without_preflight_are_refused(
    client: TestClient, path: str, content_type: str | None, body: bytes
) -> None:
    """State-changing bodies must be application/json or multipart: 415 naming Content-Type."""
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post(path, content=body, headers=headers)
    _refused(response, 415, "unsupported_media_type", "Content-Type")


def test_json_multipart_and_bodyless_requests_pass(client: TestClient) -> None:
    """application/json, multipart uploads and a DELETE without a body go through to the route."""
    assert client.post("/api/v1/tts", json=TTS).status_code == 200
    upload = client.post("/api/v1/jobs", files={"file": ("a.png", b"\x89PNG")})
    assert upload.status_code not in (403, 415, 421), upload.text  # the route judges the file itself
    assert client.delete("/api/v1/jobs/nothing-here").status_code == 404


def test_with_keys_any_host_is_served_unless_hosts_are_listed(
    make_client: Callable[[Settings], TestClient], api_settings: Callable[..., Settings]
) -> None:
    """A keyed server (exposed on purpose) answers any Host; the Origin rule still holds."""
    key = "guard-key-0123456789"
    keyed = make_client(
        api_settings(engines={"piper": {"enabled": False}}, server={"api_keys": {"a": {"key": key}}})
    )
    auth = {"Authorization": f"Bearer {key}"}
    assert keyed.get("/api/v1/voices", headers={"Host": "tts.example.com", **auth}).status_code == 200
    foreign = keyed.post("/api/v1/tts", json=TTS, headers={"Origin": "https://evil.example", **auth})
    _refused(foreign, 403, "origin_not_allowed", "Origin")

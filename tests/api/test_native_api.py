"""The native API against the real app and real engines: formats, headers, cache, voices, errors, auth."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from voxgate.audio.decode import decode
from voxgate.settings import Settings

EN = "The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background."
KEY_A, KEY_B = "a" * 32, "b" * 32

MEDIA_TYPES = {
    "wav": "audio/wav",
    "pcm": "audio/pcm",
    "flac": "audio/flac",
    "mp3": "audio/mpeg",
    "opus": "audio/ogg; codecs=opus",
    "aac": "audio/aac",
}


@pytest.fixture(scope="module")
def client(
    make_client: Callable[[Settings], TestClient], api_settings: Callable[..., Settings]
) -> TestClient:
    """The open server: piper and espeak, plus one kokoro worker so jf_alpha's chains are real."""
    return make_client(api_settings(engines={"kokoro": {"enabled": True, "workers": 1, "threads": 1}}))


@pytest.fixture(scope="module")
def keyed(make_client: Callable[[Settings], TestClient], api_settings: Callable[..., Settings]) -> TestClient:
    """A server with API keys (espeak only): alice may make 2 requests a minute, bob the default."""
    return make_client(
        api_settings(
            engines={"piper": {"enabled": False}},
            server={"api_keys": {"alice": {"key": KEY_A, "rate_limit": "2/minute"}, "bob": {"key": KEY_B}}},
        )
    )


def _tts(client: TestClient, **fields: Any) -> httpx.Response:
    return client.post("/api/v1/tts", json={"text": EN, "voice": "joe", **fields})


def _espeak(client: TestClient, **fields: Any) -> httpx.Response:
    """espeak is deterministic, so separate requests can be compared sample for sample in length."""
    return _tts(client, voice="espeak-en-us", **fields)


def _seconds(response: httpx.Response, fmt: str) -> tuple[float, int]:
    rate = int(response.headers["x-voxgate-sample-rate"])
    audio, decoded_rate = decode(response.content, fmt, sample_rate=rate)
    assert decoded_rate == rate
    return len(audio) / rate, rate


@pytest.mark.parametrize("fmt", list(MEDIA_TYPES))
def test_every_format_has_its_media_type_and_decodes_to_the_same_speech(client: TestClient, fmt: str) -> None:
    """Each format has its Content-Type and decodes to the speech; espeak's is as long as its wav."""
    response = _espeak(client, format=fmt)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == MEDIA_TYPES[fmt]
    seconds, _ = _seconds(response, fmt)
    reference, _ = _seconds(_espeak(client, format="wav"), "wav")
    assert 3.0 < reference < 10.0
    assert seconds == pytest.approx(reference, abs=0.15)  # mp3/aac may end with one codec frame of padding
    piper = _tts(client, format=fmt)  # piper is not deterministic: its length varies a little
    assert piper.headers["content-type"] == MEDIA_TYPES[fmt]
    assert piper.headers["x-voxgate-engine"] == "piper"
    assert 3.0 < _seconds(piper, fmt)[0] < 10.0


def test_headers_say_how_it_was_answered_and_a_repeat_is_a_cache_hit(client: TestClient) -> None:
    """A first answer is piper, undegraded, a cache miss with its latency; the same request again is a hit."""
    first = _tts(client, text="A cache test sentence for the headers.", format="mp3")
    assert first.status_code == 200
    headers = first.headers
    assert headers["x-voxgate-engine"] == "piper"
    assert headers["x-voxgate-voice"] == "joe"
    assert headers["x-voxgate-degraded"] == "false"
    assert headers["x-voxgate-fallback-reason"] == ""
    assert headers["x-voxgate-cache"] == "miss"
    assert int(headers["x-voxgate-latency-ms"]) > 0
    second = _tts(client, text="A cache test sentence for the headers.", format="mp3")
    assert second.headers["x-voxgate-cache"] == "hit"
    assert second.headers["x-voxgate-engine"] == "piper"
    assert second.content == first.content
    assert int(second.headers["x-voxgate-latency-ms"]) <= int(headers["x-voxgate-latency-ms"])


@pytest.mark.parametrize(("fmt", "rate"), [("wav", 16000), ("mp3", 24000), ("pcm", 8000), ("flac", 44100)])
def test_sample_rate_is_honoured(client: TestClient, fmt: str, rate: int) -> None:
    """A requested sample rate is the rate of the file, and the speech keeps its length."""
    response = _espeak(client, format=fmt, sample_rate=rate)
    assert response.status_code == 200, response.text
    seconds, got = _seconds(response, fmt)
    native, native_rate = _seconds(_espeak(client, format="wav"), "wav")
    assert (got, native_rate) == (rate, 22050)
    assert seconds == pytest.approx(native, abs=0.15)


def test_voices_list_language_gender_engine_rate_and_fallback_chain(client: TestClient) -> None:
    """Every voice has languages, gender, engine, sample rate and a fallback chain per language."""
    response = client.get("/api/v1/voices")
    assert response.status_code == 200
    voices = {v["id"]: v for v in response.json()["voices"]}
    for voice in voices.values():
        assert voice["languages"]
        assert voice["gender"] in {"female", "male", "unknown"}
        assert voice["engine"] in {"kokoro", "piper", "espeak"}
        assert 8000 <= voice["sample_rate"] <= 48000
        assert set(voice["fallback_chain"]) == set(voice["languages"])
        assert all(chain[-1] == "espeak" for chain in voice["fallback_chain"].values())
    joe, alpha = voices["joe"], voices["jf_alpha"]
    assert (joe["engine"], joe["languages"], joe["gender"], joe["sample_rate"]) == (
        "piper",
        ["en"],
        "male",
        22050,
    )
    assert joe["fallback_chain"] == {"en": ["piper", "espeak"]}
    assert (alpha["engine"], alpha["gender"], alpha["sample_rate"]) == ("kokoro", "female", 24000)
    assert alpha["fallback_chain"]["zh"] == ["kokoro", "espeak"]
    assert alpha["fallback_chain"]["en"] == ["kokoro", "piper", "espeak"]


def test_a_voice_blend_speaks_and_shares_its_cache_entry_with_other_spellings(client: TestClient) -> None:
    """A kokoro blend is a voice: it speaks, answers with its canonical id, and 3:2 is cached as 0.6:0.4."""
    first = client.post(
        "/api/v1/tts", json={"text": "你好。", "voice": "jf_alpha:0.6+jm_kumo:0.4", "format": "wav"}
    )
    assert first.status_code == 200, first.text
    assert first.headers["x-voxgate-engine"] == "kokoro"
    assert first.headers["x-voxgate-voice"] == "jf_alpha:0.6+jm_kumo:0.4"
    again = client.post(
        "/api/v1/tts", json={"text": "你好。", "voice": "jf_alpha:3+jm_kumo:2", "format": "wav"}
    )
    assert again.status_code == 200
    assert again.headers["x-voxgate-cache"] == "hit"
    assert again.content == first.content


def test_voices_list_says_why_the_optional_indextts2_engine_is_off(client: TestClient) -> None:
    """``engines_off`` names the local IndexTTS-2 engine and why (no model_dir here), not the running ones."""
    off = client.get("/api/v1/voices").json()["engines_off"]
    assert set(off) == {"indextts2"}
    assert "engines.indextts2.model_dir is not set" in off["indextts2"]


ERRORS: list[tuple[str, dict[str, Any], int, str | None]] = [
    ("missing text", {"json": {"voice": "joe"}}, 422, "text"),
    ("empty text", {"json": {"text": ""}}, 422, "text"),
    ("whitespace text", {"json": {"text": " \t\n "}}, 422, "text"),
    ("speed 0", {"json": {"text": "Hi.", "speed": 0}}, 422, "speed"),
    ("speed 3", {"json": {"text": "Hi.", "speed": 3}}, 422, "speed"),
    ("speed fast", {"json": {"text": "Hi.", "speed": "fast"}}, 422, "speed"),
    ("unknown voice", {"json": {"text": "Hi.", "voice": "nobody"}}, 400, "voice"),
    ("unknown format", {"json": {"text": "Hi.", "format": "xyz"}}, 400, "format"),
    ("sample rate 1000", {"json": {"text": "Hi.", "sample_rate": 1000}}, 422, "sample_rate"),
    ("opus at 22050", {"json": {"text": "Hi.", "format": "opus", "sample_rate": 22050}}, 422, "sample_rate"),
    ("priority urgent", {"json": {"text": "Hi.", "priority": "urgent"}}, 422, "priority"),
    ("deadline -1", {"json": {"text": "Hi.", "deadline_ms": -1}}, 422, "deadline_ms"),
    ("deadline 1 ms", {"json": {"text": "Hi.", "deadline_ms": 1}}, 422, "deadline_ms"),
    ("extra field", {"json": {"text": "Hi.", "volume": 11}}, 422, "volume"),
    ("emotion unknown name", {"json": {"text": "Hi.", "emotion": {"joy": 0.5}}}, 422, "emotion.joy"),
    ("emotion weight 2", {"json": {"text": "Hi.", "emotion": {"happy": 2}}}, 422, "emotion.happy"),
    ("emotion weight -0.1", {"json": {"text": "Hi.", "emotion": {"sad": -0.1}}}, 422, "emotion.sad"),
    ("emotion sum 0.9", {"json": {"text": "Hi.", "emotion": {"happy": 0.5, "calm": 0.4}}}, 422, "emotion"),
    ("emotion all zero", {"json": {"text": "Hi.", "emotion": {"happy": 0}}}, 422, "emotion"),
    ("emotion weight text", {"json": {"text": "Hi.", "emotion": {"happy": "x"}}}, 422, "emotion"),
    ("emotion weight true", {"json": {"text": "Hi.", "emotion": {"happy": True}}}, 422, "emotion"),
    ("emotion number", {"json": {"text": "Hi.", "emotion": 5}}, 422, "emotion"),
    ("emotion text empty", {"json": {"text": "Hi.", "emotion": " "}}, 422, "emotion"),
    ("emotion text long", {"json": {"text": "Hi.", "emotion": "a" * 201}}, 422, "emotion"),
    ("blend weight 0", {"json": {"text": "Hi.", "voice": "jf_alpha:0+jm_kumo:1"}}, 422, "voice"),
    ("blend unknown voice", {"json": {"text": "Hi.", "voice": "jf_alpha:0.5+nobody:0.5"}}, 422, "voice"),
    ("blend across engines", {"json": {"text": "Hi.", "voice": "jf_alpha:0.5+joe:0.5"}}, 422, "voice"),
    ("too long", {"json": {"text": "word " * 1000}}, 413, "text"),
    (
        "malformed JSON",
        {"content": b'{"text": "Hi.",', "headers": {"content-type": "application/json"}},
        400,
        "body",
    ),
    ("JSON array", {"json": ["Hi."]}, 422, None),
    ("form body", {"data": {"text": "Hi."}}, 415, "Content-Type"),
    (
        "text/plain body",
        {"content": b'{"text": "Hi."}', "headers": {"content-type": "text/plain"}},
        415,
        "Content-Type",
    ),
]


@pytest.mark.parametrize(("case", "request_kwargs", "status", "field"), ERRORS, ids=[e[0] for e in ERRORS])
def test_bad_input_gets_a_4xx_json_error_naming_the_field(
    client: TestClient, case: str, request_kwargs: dict[str, Any], status: int, field: str | None
) -> None:
    """Bad input is answered with its status and a JSON error naming the field, never a 500 or a traceback."""
    response = client.post("/api/v1/tts", **request_kwargs)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["message"]
    assert error["type"] == "invalid_request_error"
    if field is not None:
        assert error["field"] == error["param"] == field
    assert "Traceback" not in response.text
    assert 'File "' not in response.text
    if case == "too long":
        assert "batch job" in error["message"]
        assert "/api/v1/jobs" in error["message"]


def test_a_get_on_a_post_route_is_a_json_405(client: TestClient) -> None:
    """GET /api/v1/tts is 405 with Allow: POST (not the web UI's 404); POST /healthz is 405 too."""
    response = client.get("/api/v1/tts")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert client.post("/healthz").status_code == 405
    missing = client.get("/api/v1/nothing-here")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")


def test_degraded_answers_carry_the_fallback_reason(
    make_client: Callable[[Settings], TestClient], api_settings: Callable[..., Settings]
) -> None:
    """When piper fails every call, espeak answers, marked degraded with the reason, and is not cached."""
    failing = make_client(api_settings(engines={"piper": {"chaos": {"enabled": True, "error_rate": 1.0}}}))
    for _ in range(2):
        response = _tts(failing, text="Hello there.", format="wav")
        assert response.status_code == 200
        assert response.headers["x-voxgate-engine"] == "espeak"
        assert response.headers["x-voxgate-degraded"] == "true"
        assert response.headers["x-voxgate-fallback-reason"].startswith("piper:")
        assert response.headers["x-voxgate-cache"] == "miss"
        assert 0.3 < _seconds(response, "wav")[0] < 3.0


def test_the_server_without_keys_is_open(client: TestClient) -> None:
    """Without configured keys a request needs no Authorization header, and a stray one is ignored."""
    assert _tts(client, text="Open door.").status_code == 200
    stray = client.post("/api/v1/tts", json={"text": "Open door."}, headers={"authorization": "Bearer x"})
    assert stray.status_code == 200


@pytest.mark.parametrize("authorization", [None, "Bearer " + "c" * 32, "Basic " + KEY_A, "Bearer ", KEY_A])
def test_with_keys_a_missing_or_wrong_key_is_401(keyed: TestClient, authorization: str | None) -> None:
    """With keys configured, no key, a wrong key or a wrong scheme gets 401 with WWW-Authenticate: Bearer."""
    headers = {"authorization": authorization} if authorization is not None else {}
    response = keyed.post("/api/v1/tts", json={"text": "Who goes there?"}, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("authentication_error", "invalid_api_key")
    assert KEY_A not in response.text


def test_each_key_has_its_own_rate_limit(keyed: TestClient) -> None:
    """Alice's third request in a minute is 429 with Retry-After; bob, on the default limit, goes on."""

    def speak(key: str, n: int) -> httpx.Response:
        return keyed.post(
            "/api/v1/tts", json={"text": f"Request number {n}."}, headers={"authorization": f"Bearer {key}"}
        )

    assert [speak(KEY_A, n).status_code for n in (1, 2)] == [200, 200]
    third = speak(KEY_A, 3)
    assert third.status_code == 429
    assert int(third.headers["retry-after"]) >= 1
    assert third.json()["error"]["code"] == "rate_limit"
    assert [speak(KEY_B, n).status_code for n in (1, 2, 3)] == [200, 200, 200]


def test_health_readiness_and_sla(client: TestClient) -> None:
    """/healthz is 200; /readyz is 200 and lists every engine warm; /api/v1/sla has both windows."""
    assert _tts(client, text="Counted in the windows.").status_code == 200
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["engines"] == {"kokoro": True, "piper": True, "espeak": True}
    sla = client.get("/api/v1/sla").json()
    assert set(sla["windows"]) == {"300", "3600"}
    assert sla["windows"]["300"]["requests"] >= 1
    assert set(sla["breakers"]) == set(sla["engines"]) == {"kokoro", "piper", "espeak"}
    assert all(b["state"] == "closed" for b in sla["breakers"].values())
    assert {"hits", "misses", "bytes"} <= set(sla["cache"])


def test_emotion_ignored_by_a_local_engine_is_said_in_a_header(client: TestClient) -> None:
    """espeak does not act on ``emotion``: it still answers, with X-Voxgate-Ignored: emotion (only then)."""
    text = "The juice of lemons makes fine punch."
    plain = _espeak(client, text=text)
    assert plain.status_code == 200, plain.text
    assert "x-voxgate-ignored" not in plain.headers
    moved = _espeak(client, text=text, emotion={"happy": 0.6})
    assert moved.status_code == 200, moved.text
    assert moved.headers["x-voxgate-ignored"] == "emotion"
    assert moved.headers["x-voxgate-cache"] == "miss"  # another emotion is another cache entry
    again = _espeak(client, text=text, emotion={"happy": 0.6})
    assert (again.headers["x-voxgate-cache"], again.headers["x-voxgate-ignored"]) == ("hit", "emotion")
    described = _espeak(client, text=text, emotion="calm and warm")
    assert described.headers["x-voxgate-ignored"] == "emotion"

"""The OpenAI-compatible routes over HTTP against the real app: SSE, models, voice mapping, errors."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from voxgate.api.openai_voices import resolve_voice
from voxgate.api.routes_openai import _sse_events
from voxgate.audio.decode import decode
from voxgate.engines.registry import build_engine
from voxgate.errors import NoEngineAvailable, UnknownVoice
from voxgate.settings import Settings
from voxgate.voices import VoiceCatalog

EN = "The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background."
ZH = "你好。"
JA = "こんにちは。"
RU = "Привет, как дела?"


@pytest.fixture(scope="module")
def client(
    make_client: Callable[[Settings], TestClient], api_settings: Callable[..., Settings]
) -> TestClient:
    """One real app (lifespan included) for the module; Kokoro on with one worker, for Chinese."""
    return make_client(api_settings(engines={"kokoro": {"enabled": True, "workers": 1, "threads": 1}}))


def _speech(client: TestClient, **fields: Any) -> Any:  # the TestClient's response type
    body = {"model": "tts-1", "voice": "alloy", "input": EN, **fields}
    return client.post("/v1/audio/speech", json=body)


def _error(response: Any) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    assert set(error) >= {"message", "type", "param", "code"}
    return error


def _sse(response: Any) -> list[dict[str, Any]]:
    assert response.headers["content-type"].startswith("text/event-stream")
    blocks = [b for b in response.text.split("\n\n") if b.strip()]
    assert all(b.startswith("data: ") for b in blocks)
    return [json.loads(b.removeprefix("data: ")) for b in blocks]


def test_sse_pcm_deltas_concatenate_to_24khz_audio(client: TestClient) -> None:
    """SSE sends one base64 delta per sentence and a final done with usage; the pcm is 24 kHz."""
    response = _speech(client, model="espeak", response_format="pcm", stream_format="sse", speed=1.0)
    assert response.status_code == 200
    events = _sse(response)
    assert [e["type"] for e in events] == ["speech.audio.delta"] * (len(events) - 1) + ["speech.audio.done"]
    assert len(events) - 1 >= 2  # two sentences, two pieces
    assert events[-1]["usage"] == {"input_tokens": len(EN), "output_tokens": 0, "total_tokens": len(EN)}
    pcm = b"".join(base64.b64decode(e["audio"]) for e in events[:-1])
    audio, rate = decode(pcm, "pcm", sample_rate=24000)
    # espeak is deterministic: the same request as wav (its native 22050 Hz) has the same length.
    wav = _speech(client, model="espeak", response_format="wav")
    native, native_rate = decode(wav.content, "wav")
    assert native_rate == 22050
    assert 3.0 < len(audio) / rate < 10.0
    assert len(audio) / rate == pytest.approx(len(native) / native_rate, abs=0.01)
    assert response.headers["x-voxgate-voice"] == "espeak-en-us"


def test_sse_mp3_deltas_form_one_file(client: TestClient) -> None:
    """With mp3, the decoded SSE deltas joined together are one playable mp3 file."""
    response = _speech(client, model="gpt-4o-mini-tts", voice="onyx", stream_format="sse")
    events = _sse(response)
    data = b"".join(base64.b64decode(e["audio"]) for e in events if e["type"] == "speech.audio.delta")
    audio, rate = decode(data, "mp3")
    assert 3.0 < len(audio) / rate < 10.0
    assert response.headers["x-voxgate-engine"] == "piper"


def test_sse_is_refused_for_tts_1_as_openai_does(client: TestClient) -> None:
    """stream_format=sse with tts-1 is a validation error naming stream_format."""
    response = _speech(client, stream_format="sse")
    assert response.status_code == 422
    assert _error(response)["param"] == "stream_format"


def test_audio_stream_format_sends_chunked_audio_with_voxgate_headers(client: TestClient) -> None:
    """The default answer is mp3 with the native route's X-Voxgate-* headers."""
    response = _speech(client, voice="echo", input="Headers first. " + EN)  # a text no test streamed yet
    assert response.status_code == 200
    assert response.headers["content-type"] == "audio/mpeg"
    assert response.headers["x-voxgate-engine"] == "piper"
    assert response.headers["x-voxgate-degraded"] == "false"
    assert response.headers["x-voxgate-cache"] == "miss"
    assert int(response.headers["x-voxgate-latency-ms"]) >= 0
    assert "x-voxgate-unsupported" not in response.headers
    audio, rate = decode(response.content, "mp3")
    assert 3.0 < len(audio) / rate < 10.0


def _catalog(settings: Settings, *, kokoro: bool) -> VoiceCatalog:
    names = ["kokoro", "piper", "espeak"] if kokoro else ["piper", "espeak"]
    return VoiceCatalog(v for name in names for v in build_engine(name, settings).voices())


@pytest.mark.parametrize(
    ("voice", "text", "engine", "expected"),
    [
        ("onyx", EN, None, "joe"),  # male, English: piper's joe
        ("onyx", ZH, None, "jm_kumo"),  # male, Chinese: Kokoro's male voice
        ("echo", JA, None, "jm_kumo"),  # male, Japanese
        ("nova", EN, None, "jf_alpha"),  # female, English: a Kokoro voice reads English too
        ("shimmer", ZH, None, "jf_nezumi"),  # soft female
        ("alloy", ZH, None, None),  # neutral: the language's default
        ("onyx", RU, None, None),  # no mapped voice reads Russian: its default (espeak)
        ("alloy", EN, "kokoro", "jm_kumo"),  # model=kokoro: its best English reader
        ("onyx", EN, "kokoro", "jm_kumo"),  # ... and its male voice for a male name
        ("shimmer", EN, "espeak", "espeak-en-us"),  # model=espeak: espeak's English voice
        ("onyx", ZH, "piper", "jm_kumo"),  # piper cannot read Chinese: the usual choice
        ("jm_kumo", EN, "piper", "jm_kumo"),  # a voxgate voice id wins over the model
    ],
)
def test_openai_voices_resolve_to_a_voice_reading_the_input_language(
    settings: Settings, voice: str, text: str, engine: str | None, expected: str | None
) -> None:
    """OpenAI voice names pick, by character, an enabled voxgate voice that reads the input's language."""
    assert resolve_voice(voice, text, _catalog(settings, kokoro=True), engine) == expected


def test_female_voices_fall_back_to_the_default_without_kokoro(settings: Settings) -> None:
    """With Kokoro disabled a female name reads English with the default voice; unknown names fail."""
    catalog = _catalog(settings, kokoro=False)
    assert resolve_voice("nova", EN, catalog) is None
    assert resolve_voice("onyx", ZH, catalog) is None
    with pytest.raises(UnknownVoice) as caught:
        resolve_voice("jf_alpha", EN, catalog)
    assert caught.value.field == "voice"


def test_a_male_name_reads_chinese_with_kokoros_male_voice(client: TestClient) -> None:
    """End to end: onyx with Chinese input is spoken by Kokoro's jm_kumo."""
    response = _speech(client, voice="onyx", input=ZH, response_format="wav")
    assert response.status_code == 200, response.text
    assert (response.headers["x-voxgate-voice"], response.headers["x-voxgate-engine"]) == (
        "jm_kumo",
        "kokoro",
    )
    audio, rate = decode(response.content, "wav")
    assert len(audio) / rate > 0.3


def test_voice_may_be_an_object_with_an_id(client: TestClient) -> None:
    """OpenAI's custom-voice form {"id": ...} takes a voxgate voice id."""
    response = _speech(client, voice={"id": "joe"}, response_format="wav")
    assert response.status_code == 200
    assert response.headers["x-voxgate-voice"] == "joe"


def test_instructions_emotion_on_an_engine_without_emotion_is_reported_ignored(client: TestClient) -> None:
    """Instructions "Speak cheerfully, like a pirate.": the emotion piper cannot act on and the words
    not understood are listed in X-Voxgate-Ignored; nothing is reported unsupported any more."""
    response = _speech(
        client,
        model="gpt-4o-mini-tts",
        instructions="Speak cheerfully, like a pirate.",
        response_format="wav",
    )
    assert response.status_code == 200
    assert response.headers["x-voxgate-ignored"] == "emotion,instructions:pirate"
    assert "x-voxgate-unsupported" not in response.headers


def test_models_lists_the_accepted_names_in_openai_format(client: TestClient) -> None:
    """GET /v1/models is an OpenAI list of model objects: OpenAI's names, voxgate and the engines."""
    body = client.get("/v1/models").json()
    assert body["object"] == "list"
    ids = [m["id"] for m in body["data"]]
    assert ids == ["tts-1", "tts-1-hd", "gpt-4o-mini-tts", "voxgate", "kokoro", "piper", "espeak"]
    for item in body["data"]:
        assert item["object"] == "model"
        assert isinstance(item["created"], int)
        assert item["owned_by"] == "voxgate"
    for name in ids:
        assert _speech(client, model=name, voice="joe", input="Hi.", response_format="wav").status_code == 200


def test_one_model_is_retrievable_and_an_unknown_one_is_404(client: TestClient) -> None:
    """GET /v1/models/{id} answers a model object, or 404 naming model."""
    assert client.get("/v1/models/gpt-4o-mini-tts").json()["id"] == "gpt-4o-mini-tts"
    missing = client.get("/v1/models/whisper-1")
    assert missing.status_code == 404
    assert _error(missing)["param"] == "model"


@pytest.mark.parametrize(
    ("fields", "status", "param"),
    [
        ({"model": "tts-2"}, 400, "model"),
        ({"voice": "nobody"}, 400, "voice"),
        ({"voice": {"id": "nobody"}}, 400, "voice"),
        ({"voice": None}, 422, "voice"),
        ({"voice": {"id": "joe", "style": "calm"}}, 422, "voice"),
        ({"response_format": "ogg"}, 400, "response_format"),
        ({"speed": 4.5}, 422, "speed"),
        ({"speed": 0.2}, 422, "speed"),
        ({"input": ""}, 422, "input"),
        ({"input": " \n\t "}, 422, "input"),
        ({"stream_format": "chunks"}, 422, "stream_format"),
        ({"temperature": 0.3}, 422, "temperature"),
        ({"input": "a" * 4097}, 413, "input"),
    ],
)
def test_bad_fields_get_an_openai_error_naming_the_field(
    client: TestClient, fields: dict[str, Any], status: int, param: str
) -> None:
    """Each bad field gets a 4xx in OpenAI's error shape whose param names it."""
    response = _speech(client, **fields)
    assert response.status_code == status, response.text
    assert _error(response)["param"] == param


def test_missing_required_fields_are_named(client: TestClient) -> None:
    """A body without voice names voice."""
    response = client.post("/v1/audio/speech", json={"model": "tts-1", "input": "Hello."})
    assert response.status_code == 422
    assert _error(response)["param"] == "voice"


def test_input_at_the_limit_is_accepted(client: TestClient) -> None:
    """Exactly 4096 characters is within OpenAI's limit (the 413 starts at 4097)."""
    text = ("hello " * 700)[:4096]
    response = _speech(client, model="espeak", input=text, response_format="pcm")
    assert response.status_code == 200
    assert len(response.content) > 0


def test_sse_reports_a_failure_after_the_first_piece_as_an_error_event() -> None:
    """A failure mid-stream becomes one error event in OpenAI's shape, with no done event after it."""

    async def pieces() -> AsyncIterator[bytes]:
        yield b"\x01\x02"
        raise NoEngineAvailable([("espeak", "crashed")])

    async def collect() -> list[bytes]:
        return [event async for event in _sse_events(pieces(), 5)]

    events = [json.loads(e.decode().removeprefix("data: ")) for e in asyncio.run(collect())]
    assert [e["type"] for e in events] == ["speech.audio.delta", "error"]
    assert base64.b64decode(events[0]["audio"]) == b"\x01\x02"
    assert events[1]["error"]["code"] == "no_engine_available"

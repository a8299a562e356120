"""The official ``openai`` package, unmodified, against a real uvicorn server with an API key."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Literal

import openai
import pytest
from openai import OpenAI

from voxgate.audio.decode import decode
from voxgate.settings import Settings

KEY = "test-key-0123456789abcdef"
EN = "The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background."
Format = Literal["mp3", "opus", "aac", "flac", "wav", "pcm"]
FORMATS: list[Format] = ["mp3", "opus", "aac", "flac", "wav", "pcm"]


@pytest.fixture(scope="module")
def base_url(make_server: Callable[[Settings], str], api_settings: Callable[..., Settings]) -> str:
    """One real uvicorn server for the module (Kokoro off, one worker per engine), with an API key."""
    return make_server(api_settings(server={"api_keys": {"tester": {"key": KEY}}})) + "/v1"


@pytest.fixture
def client(base_url: str) -> Iterator[OpenAI]:
    """An OpenAI client with the right key and no retries (a failure shows at once)."""
    with OpenAI(base_url=base_url, api_key=KEY, max_retries=0, timeout=30) as oai:
        yield oai


def test_default_mp3_decodes_to_plausible_audio(client: OpenAI) -> None:
    """speech.create with only the required fields answers an mp3 of the text's length."""
    speech = client.audio.speech.create(model="tts-1", voice="alloy", input=EN)
    audio, rate = decode(speech.content, "mp3")
    assert 3.0 < len(audio) / rate < 10.0
    assert speech.response.headers["content-type"] == "audio/mpeg"
    assert speech.response.headers["x-voxgate-engine"] == "piper"


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_response_format_decodes(client: OpenAI, fmt: Format) -> None:
    """Each OpenAI response_format is a valid file of that format; pcm is 24 kHz s16le."""
    speech = client.audio.speech.create(
        model="gpt-4o-mini-tts", voice="onyx", input="Hello there.", response_format=fmt
    )
    audio, rate = decode(speech.content, fmt, sample_rate=24000)
    assert 0.4 < len(audio) / rate < 3.0
    if fmt == "pcm":
        assert speech.response.headers["content-type"] == "audio/pcm"


def test_streaming_response_yields_decodable_chunked_bytes(client: OpenAI) -> None:
    """with_streaming_response + iter_bytes yields a chunked mp3 that decodes to the whole text."""
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="echo", input=EN, response_format="mp3"
    ) as response:
        assert response.headers["transfer-encoding"] == "chunked"
        assert response.headers["x-voxgate-degraded"] == "false"
        data = b"".join(response.iter_bytes())
    audio, rate = decode(data, "mp3")
    assert 3.0 < len(audio) / rate < 10.0


def test_sse_through_the_client_yields_speech_events(client: OpenAI) -> None:
    """stream_format=sse passes through the client; the events carry base64 pcm and end with done."""
    with client.audio.speech.with_streaming_response.create(
        model="gpt-4o-mini-tts", voice="sage", input=EN, response_format="pcm", stream_format="sse"
    ) as response:
        events = [json.loads(line.removeprefix("data: ")) for line in response.iter_lines() if line]
    assert events[-1]["type"] == "speech.audio.done"
    pcm = b"".join(base64.b64decode(e["audio"]) for e in events[:-1])
    audio, rate = decode(pcm, "pcm", sample_rate=24000)
    assert 3.0 < len(audio) / rate < 10.0


def test_wrong_key_is_an_authentication_error(base_url: str) -> None:
    """With a key configured, a wrong key raises AuthenticationError, for speech and for models."""
    with OpenAI(base_url=base_url, api_key="wrong-key-0123456789abcdef", max_retries=0) as wrong:
        with pytest.raises(openai.AuthenticationError) as caught:
            wrong.audio.speech.create(model="tts-1", voice="alloy", input="Hello.")
        assert caught.value.code == "invalid_api_key"
        with pytest.raises(openai.AuthenticationError):
            wrong.models.list()


def test_bad_voice_and_model_are_bad_requests_naming_the_field(client: OpenAI) -> None:
    """An unknown voice or model raises BadRequestError whose param names it."""
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.speech.create(model="tts-1", voice="nobody", input="Hello.")
    assert caught.value.param == "voice"
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.speech.create(model="tts-9", voice="alloy", input="Hello.")
    assert caught.value.param == "model"


def test_out_of_range_speed_is_unprocessable(client: OpenAI) -> None:
    """speed outside 0.25–4.0 raises UnprocessableEntityError naming speed."""
    with pytest.raises(openai.UnprocessableEntityError) as caught:
        client.audio.speech.create(model="tts-1", voice="alloy", input="Hello.", speed=8.0)
    assert caught.value.param == "speed"


def test_instructions_not_understood_are_flagged(client: OpenAI) -> None:
    """Instructions voxgate cannot act on are listed as ignored; a female name without Kokoro is joe."""
    raw = client.audio.speech.with_raw_response.create(
        model="gpt-4o-mini-tts", voice="nova", input="Hello.", instructions="Whisper.", response_format="wav"
    )
    assert raw.headers["x-voxgate-ignored"] == "instructions:whisper"
    assert raw.headers["x-voxgate-voice"] == "joe"
    audio, rate = decode(raw.content, "wav")
    assert len(audio) / rate > 0.3


def _seconds(client: OpenAI, instructions: str | None) -> float:
    extra = {} if instructions is None else {"instructions": instructions}
    raw = client.audio.speech.with_raw_response.create(
        model="espeak", voice="onyx", input=EN, response_format="wav", **extra
    )
    audio, rate = decode(raw.content, "wav")
    return len(audio) / rate


def test_instructions_to_speak_slowly_make_the_audio_longer(client: OpenAI) -> None:
    """Instructions "Speak slowly." make the same text longer (a rate of 0.8: about 1.25 times as long)."""
    assert _seconds(client, "Speak slowly.") / _seconds(client, None) > 1.12


def test_models_list_has_the_accepted_names(client: OpenAI) -> None:
    """models.list parses, and names OpenAI's models, voxgate and the enabled engines only."""
    ids = [m.id for m in client.models.list()]
    assert ids == ["tts-1", "tts-1-hd", "gpt-4o-mini-tts", "voxgate", "piper", "espeak"]
    assert client.models.retrieve("voxgate").owned_by == "voxgate"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("kokoro")

"""The ``indextts2`` kind: IndexTTS-2 served by index-tts-vllm's ``api_server_v2.py``.

Protocol (the server's ``POST /tts_url`` reads a JSON object; fields it is not sent take its
defaults): ``text``, ``spk_audio_path`` (the voice's speaker reference audio, a path on *that*
server: the ``voices`` map's values), ``emo_control_method`` (0 the speaker's own emotion,
1 a reference audio, 2 a vector, 3 a text), ``emo_vec`` (8 weights: happy, angry, sad, afraid,
disgusted, melancholic, surprised, calm), ``emo_text``, ``max_text_tokens_per_sentence``. It
answers a whole ``audio/wav`` (22.05 kHz); it does not stream. Every failure is an HTTP 500 whose
body carries a Python traceback: it maps to a generic ``EngineError("HTTP 500")`` and its text
goes nowhere (not to the client, not to the logs).

Mapping of a voxgate request: no ``emotion`` → method 0; weights → method 2 with ``emo_vec``;
a text → method 3 with ``emo_text``. ``emo_weight`` is not sent: the server uses it only for a
reference audio (method 1), which voxgate does not offer. ``speed`` has no field: the voices do
not honour it (the answer's ``X-Voxgate-Ignored`` says so).

Health: ``GET {url}/health``, 200 once the model is loaded, 503 before.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from voxgate.remotes.base import remote_voices
from voxgate.remotes.http import http_client, post_for_audio, probe
from voxgate.settings import RemoteSettings
from voxgate.types import AudioChunk, SynthesisOptions, VoiceInfo

EMO_SPEAKER, EMO_REFERENCE, EMO_VECTOR, EMO_TEXT = 0, 1, 2, 3
"""``emo_control_method`` values."""


class IndexTTS2Remote:
    """An index-tts-vllm IndexTTS-2 server as a remote engine.

    Args:
        name: the engine name.
        settings: its ``[remotes.NAME]`` table.
        api_key: sent as ``Authorization: Bearer`` (for a proxy in front of the server, which has
            no keys of its own); ``None`` sends no header.
    """

    def __init__(self, name: str, settings: RemoteSettings, api_key: str | None) -> None:
        self._name = name
        self._settings = settings
        self._voices = remote_voices(name, settings, honours=frozenset({"emotion"}), show_remote_name=False)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = http_client(settings, headers)

    def __repr__(self) -> str:
        return f"IndexTTS2Remote({self._name!r}, url={self._settings.url!r})"

    @property
    def name(self) -> str:
        """The engine name."""
        return self._name

    @property
    def model_version(self) -> str:
        """``indextts2:<model>@<url>``: another model or server is other audio."""
        return f"indextts2:{self._settings.model}@{self._settings.url}"

    @property
    def settings(self) -> RemoteSettings:
        """Its configuration."""
        return self._settings

    def voices(self) -> Sequence[VoiceInfo]:
        """Its voxgate voices."""
        return self._voices

    async def probe(self) -> bool:
        """``GET {url}/health``: healthy on a 2xx (503 while the model loads)."""
        return await probe(self._client, "/health", self._settings, lambda status: 200 <= status < 300)

    def request_body(self, text: str, voice: str, opts: SynthesisOptions) -> dict[str, Any]:
        """The JSON sent to ``/tts_url`` for one segment (see the module docstring)."""
        body: dict[str, Any] = {
            "text": text,
            "spk_audio_path": self._settings.voices[voice],
            "emo_control_method": EMO_SPEAKER,
            "max_text_tokens_per_sentence": self._settings.max_text_tokens_per_sentence,
        }
        emotion = opts.emotion
        if emotion is not None and emotion.weights is not None:
            body["emo_control_method"] = EMO_VECTOR
            body["emo_vec"] = list(emotion.weights)
        elif emotion is not None and emotion.text is not None:
            body["emo_control_method"] = EMO_TEXT
            body["emo_text"] = emotion.text
        return body

    async def synthesize(
        self, text: str, voice: str, opts: SynthesisOptions, timeout_s: float
    ) -> list[AudioChunk]:
        """POST ``/tts_url`` and decode its WAV (see :class:`voxgate.remotes.RemoteEngine`)."""
        body = self.request_body(text, voice, opts)
        return await post_for_audio(
            self._client, self._name, self._settings, "/tts_url", body, text, timeout_s
        )

    async def aclose(self) -> None:
        """Close its connections."""
        await self._client.aclose()

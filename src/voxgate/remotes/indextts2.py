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

from typing import Any

from voxgate.remotes.http import HttpRemote, probe
from voxgate.types import AudioChunk, SynthesisOptions

EMO_SPEAKER, EMO_REFERENCE, EMO_VECTOR, EMO_TEXT = 0, 1, 2, 3
"""``emo_control_method`` values."""


class IndexTTS2Remote(HttpRemote):
    """An index-tts-vllm IndexTTS-2 server as a remote engine.

    Args:
        name: the engine name.
        settings: its ``[remotes.NAME]`` table.
        api_key: sent as ``Authorization: Bearer`` (for a proxy in front of the server, which has
            no keys of its own); ``None`` sends no header.
    """

    KIND = "indextts2"
    HONOURS = frozenset({"emotion"})
    SHOW_REMOTE_NAME = False  # a speaker path on the remote's file system is nobody's business

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
        return await self._post("/tts_url", body, text, timeout_s)

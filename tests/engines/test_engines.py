"""Real engines speak real text: duration, loudness, sample rate, and typed errors."""

from __future__ import annotations

import numpy as np
import pytest

from voxgate.engines.base import Engine
from voxgate.engines.kokoro import KokoroEngine
from voxgate.errors import EmptyText, UnknownVoice, UnsupportedLanguage
from voxgate.types import AudioChunk, SynthesisOptions

EN = "The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background."
ZH = "今天天气很好，我们去公园散步吧。明天见。"
JA = "こんにちは。今日はいい天気ですね。"

CASES = [
    # engine, voice, language, text, sample rate, sentences
    ("piper", "joe", "en", EN, 22050, 2),
    ("kokoro", "jf_alpha", "zh", ZH, 24000, 2),
    ("kokoro", "jm_kumo", "en", EN, 24000, 2),
    ("kokoro", "jf_gongitsune", "ja", JA, 24000, 2),
    ("espeak", "espeak-en-us", "en", EN, 22050, 2),
    ("espeak", "espeak-cmn", "zh", ZH, 22050, 2),
]


def _speak(
    engine: Engine, voice: str, text: str, language: str | None, speed: float = 1.0
) -> list[AudioChunk]:
    return list(engine.synthesize(text, voice, SynthesisOptions(speed=speed, language=language)))


def _rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))


@pytest.mark.parametrize(("engine_name", "voice", "language", "text", "rate", "sentences"), CASES)
def test_engine_speaks_plausible_audio(
    engines: dict[str, Engine],
    engine_name: str,
    voice: str,
    language: str,
    text: str,
    rate: int,
    sentences: int,
) -> None:
    """Each engine yields one non-silent chunk per sentence at its native rate, of plausible length."""
    chunks = _speak(engines[engine_name], voice, text, language)
    assert len(chunks) == sentences
    assert all(c.sample_rate == rate for c in chunks)
    assert all(c.audio.dtype == np.float32 for c in chunks)
    total = sum(c.duration for c in chunks)
    # Speech runs at roughly 10–20 English characters or 3–7 Chinese/Japanese characters per second.
    per_second = (8.0, 30.0) if language == "en" else (2.0, 10.0)
    assert len(text) / per_second[1] <= total <= len(text) / per_second[0]
    for chunk in chunks:
        assert _rms(chunk.audio) > 0.02
        assert np.max(np.abs(chunk.audio)) <= 1.0


@pytest.mark.parametrize("engine_name", ["piper", "kokoro", "espeak"])
def test_speed_factor_shortens_audio(engines: dict[str, Engine], engine_name: str) -> None:
    """Speed 1.5 gives clearly shorter audio than speed 0.75 for the same text."""
    engine = engines[engine_name]
    voice = {"piper": "joe", "kokoro": "jf_alpha", "espeak": "espeak-en-us"}[engine_name]
    text = "A quick brown fox jumps over the lazy dog."
    fast = sum(c.duration for c in _speak(engine, voice, text, "en", speed=1.5))
    slow = sum(c.duration for c in _speak(engine, voice, text, "en", speed=0.75))
    assert fast < slow * 0.75


@pytest.mark.parametrize("engine_name", ["piper", "kokoro", "espeak"])
def test_unknown_voice_is_a_typed_error(engines: dict[str, Engine], engine_name: str) -> None:
    """An unknown voice raises UnknownVoice naming the voice, not a crash."""
    with pytest.raises(UnknownVoice) as info:
        _speak(engines[engine_name], "no-such-voice", "hello", None)
    assert info.value.voice == "no-such-voice"
    assert info.value.field == "voice"


@pytest.mark.parametrize(
    ("engine_name", "voice"), [("piper", "joe"), ("kokoro", "jf_alpha"), ("espeak", "espeak-en-us")]
)
def test_empty_text_is_a_typed_error(engines: dict[str, Engine], engine_name: str, voice: str) -> None:
    """Text with nothing to speak raises EmptyText."""
    with pytest.raises(EmptyText):
        _speak(engines[engine_name], voice, "   \n ", None)


@pytest.mark.parametrize(
    ("engine_name", "voice", "language", "text"),
    [
        ("piper", "joe", "zh", ZH),
        ("kokoro", "jf_alpha", "de", "Guten Tag."),
        ("espeak", "espeak-en-us", "zh", ZH),
    ],
)
def test_unsupported_language_is_a_typed_error(
    engines: dict[str, Engine], engine_name: str, voice: str, language: str, text: str
) -> None:
    """A voice asked to read a language it cannot raises UnsupportedLanguage."""
    with pytest.raises(UnsupportedLanguage):
        _speak(engines[engine_name], voice, text, language)


def test_piper_detects_chinese_without_a_language_hint(engines: dict[str, Engine]) -> None:
    """Piper refuses Chinese text even when the caller gives no language."""
    with pytest.raises(UnsupportedLanguage):
        _speak(engines["piper"], "joe", ZH, None)


def test_kokoro_reads_mixed_chinese_and_english(engines: dict[str, Engine]) -> None:
    """Kokoro speaks a Chinese sentence with an English word in it as one chunk."""
    chunks = _speak(engines["kokoro"], "jf_alpha", "我今天用iPhone打电话给妈妈。", None)
    assert len(chunks) == 1
    assert chunks[0].duration > 1.0


def test_kokoro_speaks_a_blend_of_two_voices(engines: dict[str, Engine]) -> None:
    """A blend is a weighted sum of two style vectors: it speaks, and its style lies between its parts."""
    kokoro = engines["kokoro"]
    assert isinstance(kokoro, KokoroEngine)
    chunks = _speak(kokoro, "jf_alpha:0.6+jm_kumo:0.4", "你好。", "zh")
    assert len(chunks) == 1
    assert chunks[0].duration > 0.3
    assert _rms(chunks[0].audio) > 0.02
    alpha, kumo = (
        np.asarray(kokoro.style("jf_alpha:1+jm_kumo:1e-9")),
        np.asarray(kokoro.style("jm_kumo:1+jf_alpha:1e-9")),
    )
    mixed = np.asarray(kokoro.style("jf_alpha:0.6+jm_kumo:0.4"))
    np.testing.assert_allclose(mixed, 0.6 * alpha + 0.4 * kumo, rtol=1e-4, atol=1e-5)


def test_espeak_offers_many_languages(engines: dict[str, Engine]) -> None:
    """espeak lists voices for dozens of languages, including English and Mandarin."""
    voices = {v.id: v for v in engines["espeak"].voices()}
    assert len({v.languages[0] for v in voices.values()}) >= 50
    assert voices["espeak-cmn"].languages[0] == "zh"
    assert voices["espeak-en-us"].languages[0] == "en"


def test_kokoro_model_is_joined_into_the_data_dir(engines: dict[str, Engine], settings) -> None:
    """The kokoro model lives under voxgate's data directory, with its verification stamp."""
    models = settings.data_dir / "models"
    assert (models / "kokoro-v1.0.int8.onnx").stat().st_size > 50_000_000
    assert (models / "kokoro-v1.0.int8.verified.json").is_file()


def test_kokoro_polyphone_fixes_can_be_turned_off(engines: dict[str, Engine], settings) -> None:
    """zh_g2p_fixes=False feeds misaki's own reading (地 as di4); the default feeds voxgate's (de5)."""
    from misaki.zh import ZHG2P

    plain = KokoroEngine(models_dir=settings.data_dir / "models", threads=1, zh_g2p_fixes=False)
    fixed = engines["kokoro"]
    assert isinstance(fixed, KokoroEngine)
    assert ZHG2P.py2ipa("di4") in plain.phonemize("他慢慢地走。", "zh")
    assert ZHG2P.py2ipa("de5") in fixed.phonemize("他慢慢地走。", "zh")


def test_piper_without_noise_is_deterministic_and_keyed_apart() -> None:
    """With both noise scales at 0 piper says a sentence identically twice; its model version says so."""
    from voxgate.engines.piper import PiperEngine

    quiet = PiperEngine(threads=1, noise_scale=0.0, noise_w_scale=0.0)
    default = PiperEngine(threads=1)
    opts = SynthesisOptions(language="en")
    text = "The birch canoe slid on the smooth planks."
    first, second = ([c.audio for c in quiet.synthesize(text, "joe", opts)] for _ in range(2))
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    noisy = [np.concatenate([c.audio for c in default.synthesize(text, "joe", opts)]) for _ in range(2)]
    assert len(noisy[0]) != len(noisy[1]) or not np.array_equal(noisy[0], noisy[1])
    assert quiet.model_version != default.model_version
    assert quiet.model_version.endswith("/noise=0.0,0.0")


def test_every_listed_espeak_voice_speaks(engines: dict[str, Engine]) -> None:
    """Each voice espeak lists can be selected (en-gb and fr-fr are voice files, not names) and speaks."""
    espeak = engines["espeak"]
    silent = []
    for voice in espeak.voices():
        chunks = list(espeak.synthesize("Hello.", voice.id, SynthesisOptions(language=voice.languages[0])))
        if sum(len(c.audio) for c in chunks) == 0:
            silent.append(voice.id)
    assert silent == []


def test_kokoro_speaks_chinese_at_its_chinese_pace_and_other_languages_as_asked(
    engines: dict[str, Engine], settings
) -> None:
    """engines.kokoro.zh_speed slows a Chinese piece (over the request's speed), not an English one."""
    shipped = engines["kokoro"]
    pace = settings.engines.kokoro.zh_speed
    slower = KokoroEngine(models_dir=settings.data_dir / "models", threads=1, zh_speed=pace * 0.8)
    slower.load()

    def seconds(engine: Engine, text: str, language: str, speed: float = 1.0) -> float:
        return sum(c.duration for c in _speak(engine, "jf_gongitsune", text, language, speed))

    zh, en = "今天天气很好，我们去公园散步吧。", "Glue the sheet to the dark blue background."
    at_pace = seconds(shipped, zh, "zh")
    assert 1.15 < seconds(slower, zh, "zh") / at_pace < 1.4  # kokoro's durations scale by 1 / speed
    # the request's speed multiplies the pace: 0.8 of the pace asked at 1.25 times the speed is the same
    assert seconds(slower, zh, "zh", speed=1.25) == pytest.approx(at_pace, rel=0.03)
    assert seconds(slower, en, "en") == seconds(shipped, en, "en")  # English keeps its pace
    # another pace is other audio: the cache key (model_version) changes, the weights do not
    assert slower.model_version != shipped.model_version
    assert slower.weights_version == shipped.weights_version
    plain = KokoroEngine(models_dir=settings.data_dir / "models", zh_speed=1.0)
    assert plain.model_version == plain.weights_version
    with pytest.raises(ValueError, match="zh_speed"):
        KokoroEngine(models_dir=settings.data_dir / "models", zh_speed=0.1)

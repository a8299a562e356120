"""Voice blends: the ``a:0.6+b:0.4`` syntax, its validation, canonical ids, and kokoro's named blends."""

from __future__ import annotations

from pathlib import Path

import pytest

import voxgate.voices as voices_module
from voxgate.api.openai_voices import resolve_voice
from voxgate.engines.kokoro import KokoroEngine
from voxgate.errors import InvalidOption, UnknownVoice
from voxgate.types import Gender, VoiceInfo
from voxgate.voices import VoiceCatalog, blend_id, default_voices, parse_blend


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> VoiceCatalog:
    """kokoro's voices (with one named blend) and a piper voice; no model is loaded."""
    kokoro = KokoroEngine(
        models_dir=tmp_path_factory.mktemp("models"), blends={"zh_blend_a": "jf_alpha:3+jm_kumo:1"}
    )
    joe = VoiceInfo("joe", "piper", ("en",), Gender.MALE, 22050)
    return VoiceCatalog([*kokoro.voices(), joe])


def test_parse_blend_normalises_weights() -> None:
    """Weights are normalised to sum to 1; a part without a weight weighs 1."""
    assert parse_blend("jf_alpha:0.6+jm_kumo:0.4") == (("jf_alpha", 0.6), ("jm_kumo", 0.4))
    assert parse_blend("jf_alpha:3 + jm_kumo:1") == (("jf_alpha", 0.75), ("jm_kumo", 0.25))
    assert parse_blend("jf_alpha+jf_nezumi") == (("jf_alpha", 0.5), ("jf_nezumi", 0.5))
    assert blend_id(parse_blend("jf_alpha:2+jm_kumo:1")) == "jf_alpha:0.667+jm_kumo:0.333"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("jf_alpha:0+jm_kumo:1", "above 0"),
        ("jf_alpha:-1+jm_kumo:1", "expected"),
        ("jf_alpha:x+jm_kumo:1", "expected"),
        ("jf_alpha:0.5+", "expected"),
        ("jf_alpha:1+jf_alpha:1", "twice"),
        ("jf_alpha+jm_kumo+jf_nezumi+jf_tebukuro+jf_gongitsune", "at most"),
        ("jf_alpha:nan+jm_kumo:1", "expected"),
    ],
)
def test_bad_blends_are_invalid_options_on_voice(catalog: VoiceCatalog, spec: str, message: str) -> None:
    """A malformed blend is a 422-class error naming the ``voice`` field."""
    with pytest.raises(InvalidOption, match=message) as caught:
        catalog.get(spec)
    assert caught.value.field == "voice"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("jf_alpha:0.5+nobody:0.5", "unknown voice 'nobody'"),
        ("jf_alpha:0.5+joe:0.5", "one engine"),
        ("joe:0.5+joe2:0.5", "unknown voice"),
    ],
)
def test_blends_need_known_voices_of_one_blendable_engine(
    catalog: VoiceCatalog, spec: str, message: str
) -> None:
    """Every part must be a known voice, all of one engine that blends (kokoro)."""
    with pytest.raises(InvalidOption, match=message):
        catalog.get(spec)


def test_a_blend_is_a_voice_of_its_first_part(catalog: VoiceCatalog) -> None:
    """Engine, languages and gender come from the first voice; a canonical id joins spellings."""
    voice = catalog.get("jm_kumo:2+jf_alpha:3")
    assert (voice.engine, voice.languages, voice.gender, voice.sample_rate) == (
        "kokoro",
        ("zh", "ja", "en"),
        Gender.MALE,
        24000,
    )
    assert voice.id == "jm_kumo:0.4+jf_alpha:0.6"
    assert catalog.get("jm_kumo:0.4+jf_alpha:0.6").id == voice.id
    assert catalog.get("jm_kumo:0.5+jf_alpha:0.5").id != voice.id
    assert catalog.get("jf_alpha:1") == catalog.get("jf_alpha")


def test_a_plain_unknown_voice_is_still_unknown(catalog: VoiceCatalog) -> None:
    """Without blend syntax an unknown id stays an UnknownVoice (400), as before."""
    with pytest.raises(UnknownVoice):
        catalog.get("nobody")


def test_named_blends_are_kokoro_voices(catalog: VoiceCatalog) -> None:
    """``engines.kokoro.blends`` entries are listed as kokoro voices with the first part's gender."""
    named = catalog.get("zh_blend_a")
    assert (named.engine, named.gender) == ("kokoro", Gender.FEMALE)
    assert "jf_alpha:0.75+jm_kumo:0.25" in named.description


@pytest.mark.parametrize(
    ("blends", "message"),
    [
        ({"x": "jf_alpha:1+nobody:1"}, "nobody"),
        ({"x": "jf_alpha:0+jm_kumo:1"}, "above 0"),
        ({"jf_alpha": "jf_alpha:1+jm_kumo:1"}, "name of its own"),
        ({"a+b": "jf_alpha:1+jm_kumo:1"}, "name of its own"),
    ],
)
def test_bad_named_blends_stop_the_engine(tmp_path: Path, blends: dict[str, str], message: str) -> None:
    """A bad named blend is a configuration error naming the setting."""
    with pytest.raises(ValueError, match=message) as caught:
        KokoroEngine(models_dir=tmp_path, blends=blends)
    assert "engines.kokoro.blends" in str(caught.value)


def test_openai_route_resolves_a_blend(catalog: VoiceCatalog) -> None:
    """The OpenAI route takes a blend as its voice and resolves it to the canonical id."""
    assert resolve_voice("jf_alpha:3+jm_kumo:1", "你好", catalog) == "jf_alpha:0.75+jm_kumo:0.25"


def test_settings_reject_a_malformed_named_blend() -> None:
    """A bad weight or a name in blend syntax is a settings error naming engines.kokoro.blends."""
    from pydantic import ValidationError

    from voxgate.settings import Settings

    for blends in ({"x": "jf_alpha:0+jm_kumo:1"}, {"a+b": "jf_alpha:1+jm_kumo:1"}):
        with pytest.raises(ValidationError, match=r"engines\.kokoro\.blends"):
            Settings(engines={"kokoro": {"blends": blends}})


def test_named_blends_from_settings_become_voices(tmp_path: Path) -> None:
    """``engines.kokoro.blends`` reaches the kokoro engine through the registry as a listed voice."""
    from voxgate.engines.registry import build_engines
    from voxgate.settings import Settings

    settings = Settings.load(
        data_dir=tmp_path, engines={"kokoro": {"blends": {"zh_blend_a": "jf_alpha:0.6+jf_nezumi:0.4"}}}
    )
    assert "zh_blend_a" in {v.id for v in build_engines(settings)["kokoro"].voices()}


def test_a_blend_may_mix_a_named_blend(tmp_path: Path) -> None:
    """A named blend inside an ad-hoc blend contributes its own parts, scaled by its weight."""
    kokoro = KokoroEngine(models_dir=tmp_path, blends={"zh_blend_a": "jf_alpha:0.6+jf_nezumi:0.4"})
    parts = dict(kokoro.blend("zh_blend_a:0.5+jf_alpha:0.5"))
    assert parts == pytest.approx({"jf_alpha": 0.8, "jf_nezumi": 0.2})
    with pytest.raises(InvalidOption, match="nobody"):
        kokoro.blend("jf_alpha:0.5+nobody:0.5")
    with pytest.raises(UnknownVoice):
        kokoro.blend("nobody")


def test_a_blend_can_be_a_languages_default_voice(catalog: VoiceCatalog) -> None:
    """A default (built in or qos.default_voices) may be a blend: it speaks when no voice is named."""
    voices = catalog.all()
    chosen = default_voices(voices, {"zh": "jm_kumo:1+jf_nezumi:1"})
    with_blend = VoiceCatalog(voices, chosen)
    assert with_blend.default_for("zh").id == "jm_kumo:0.5+jf_nezumi:0.5"
    assert with_blend.default_for("zh").engine == "kokoro"
    assert with_blend.for_engine("kokoro", "zh").id == "jm_kumo:0.5+jf_nezumi:0.5"
    with pytest.raises(ValueError, match=r"qos\.default_voices\.zh: unknown voice 'jm_kumo\+nobody'"):
        default_voices(voices, {"zh": "jm_kumo+nobody"})
    # a built-in default whose voices are not offered (kokoro off) is skipped, not an error
    only_joe = VoiceCatalog([v for v in voices if v.engine == "piper"], {"zh": "jm_kumo:1+jf_nezumi:1"})
    assert only_joe.default_for("en").id == "joe"


def test_kokoros_english_voice_is_the_voice_that_read_english_best(
    catalog: VoiceCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Asked for kokoro in English without a kokoro voice (OpenAI's alloy with model=kokoro),
    voxgate uses the measured voice (an entry may be a blend); without it, kokoro's first reader."""
    chosen = catalog.for_engine("kokoro", "en")
    assert chosen is not None
    assert (chosen.id, chosen.engine) == ("jm_kumo", "kokoro")
    blend = {**voices_module.ENGINE_VOICES, ("kokoro", "en"): "jf_gongitsune:1+jm_kumo:1"}
    monkeypatch.setattr(voices_module, "ENGINE_VOICES", blend)
    assert catalog.for_engine("kokoro", "en").id == "jf_gongitsune:0.5+jm_kumo:0.5"
    without_kumo = VoiceCatalog([v for v in catalog.all() if v.id != "jm_kumo"], {})
    chosen = without_kumo.for_engine("kokoro", "en")
    assert chosen is not None
    assert chosen.engine == "kokoro"
    assert "en" in chosen.languages

"""The optional local IndexTTS-2 engine: on only when its package and every model file are there.

The model files are sparse stand-ins of the right names and sizes (no disk used): these tests
check the detection, not the model. The synthesis test needs the real files and is opt-in.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from voxgate.cli import app
from voxgate.clock import SystemClock
from voxgate.engines.espeak import EspeakEngine
from voxgate.engines.indextts2 import (
    MODEL_FILES,
    SAMPLE_RATE,
    IndexTTS2Engine,
    off_reason,
)
from voxgate.engines.registry import build_engines, engines_off
from voxgate.errors import EngineUnavailable
from voxgate.settings import Settings
from voxgate.types import SynthesisOptions
from voxgate.workers.backend import LocalBackend


def installed(module: str) -> object:
    """A module lookup that finds every module (the package is not installed here)."""
    return object()


def lacking(*absent: str):
    """A module lookup that finds every module but ``absent``."""
    return lambda module: None if module in absent else object()


def model_dir(root: Path, *, skip: str = "", short: str = "") -> Path:
    """A model directory of sparse files at their minimum sizes; ``skip`` left out, ``short`` truncated."""
    directory = root / "models"
    directory.mkdir(exist_ok=True)
    for wanted in MODEL_FILES:
        if wanted.name == skip:
            continue
        with open(directory / wanted.name, "wb") as f:
            f.truncate(1000 if wanted.name == short else wanted.min_bytes)
    return directory


@pytest.fixture
def speaker(tmp_path: Path) -> Path:
    """A reference recording (its content does not matter to the checks)."""
    path = tmp_path / "speaker.wav"
    path.write_bytes(b"RIFF")
    return path


def test_complete_directory_with_the_package_is_on(tmp_path: Path, speaker: Path) -> None:
    """Every file at a plausible size, the package and a speaker: no reason to be off."""
    assert off_reason(model_dir(tmp_path), {"idx-a": speaker}, find_spec=installed) is None


def test_missing_and_truncated_files_are_named(tmp_path: Path, speaker: Path) -> None:
    """A missing file and a truncated one are both named, the truncated one with its size."""
    directory = model_dir(tmp_path, skip="gpt2_step_int8.onnx", short="bigvgan.onnx")
    reason = off_reason(directory, {"idx-a": speaker}, find_spec=installed)
    assert reason is not None
    assert "missing in engines.indextts2.model_dir: gpt2_step_int8.onnx" in reason
    assert str(tmp_path) not in reason  # shown to API clients: no server paths
    assert "gpt2_step_int8.onnx" in reason
    assert "bigvgan.onnx (1,000 bytes" in reason
    assert "wav2vec2bert" not in reason


def test_fp32_export_of_an_int8_model_counts(tmp_path: Path, speaker: Path) -> None:
    """The package also opens ``gpt2_init.onnx`` when ``gpt2_init_int8.onnx`` is absent; so does the check."""
    directory = model_dir(tmp_path, skip="gpt2_init_int8.onnx")
    with open(directory / "gpt2_init.onnx", "wb") as f:
        f.truncate(2 * 10**9)
    assert off_reason(directory, {"idx-a": speaker}, find_spec=installed) is None


def test_missing_package_or_dependency_is_named_with_the_install_hint(tmp_path: Path, speaker: Path) -> None:
    """No package: the reason names indextts-onnx and the extra; a missing dependency is named too."""
    directory = model_dir(tmp_path)
    no_package = off_reason(directory, {"idx-a": speaker}, find_spec=lacking("indextts_onnx"))
    assert no_package == "package indextts-onnx is not installed (pip install 'voxgate[indextts2]')"
    no_dep = off_reason(directory, {"idx-a": speaker}, find_spec=lacking("sentencepiece"))
    assert no_dep is not None
    assert "sentencepiece" in no_dep


def test_unset_directory_and_missing_speaker_are_named(tmp_path: Path) -> None:
    """No model_dir, a missing directory, no speakers or a missing recording each say so."""
    assert "model_dir is not set" in (off_reason(None, {}, find_spec=installed) or "")
    assert "speakers is empty" in (off_reason(model_dir(tmp_path), {}, find_spec=installed) or "")
    gone = off_reason(tmp_path / "nowhere", {"idx-a": tmp_path / "a.wav"}, find_spec=installed) or ""
    assert "model_dir is not a directory" in gone
    assert "speaker recording not found for voice idx-a" in gone
    assert str(tmp_path) not in gone


def test_default_settings_leave_it_off_with_every_reason(tmp_path: Path) -> None:
    """Out of the box the engine is off: package, model_dir and speakers all named, the others on."""
    off = engines_off(Settings(data_dir=tmp_path), find_spec=lacking("indextts_onnx"))
    assert set(off) == {"indextts2"}
    assert "indextts-onnx is not installed" in off["indextts2"]
    assert "model_dir is not set" in off["indextts2"]
    assert "indextts2" not in build_engines(Settings(data_dir=tmp_path), find_spec=lacking("indextts_onnx"))


def test_complete_setup_is_built_with_voices_that_honour_nothing(tmp_path: Path, speaker: Path) -> None:
    """Available, it is built; its voices list neither speed nor emotion (the package takes neither)."""
    settings = Settings(
        data_dir=tmp_path,
        engines={
            "kokoro": {"enabled": False},
            "indextts2": {"model_dir": model_dir(tmp_path), "speakers": {"idx-a": speaker}},
        },
    )
    engines = build_engines(settings, find_spec=installed)
    assert list(engines) == ["piper", "espeak", "indextts2"]
    (voice,) = engines["indextts2"].voices()
    assert (voice.id, voice.engine, voice.languages, voice.sample_rate) == (
        "idx-a",
        "indextts2",
        ("zh", "en"),
        SAMPLE_RATE,
    )
    assert voice.honours == frozenset()
    assert engines_off(settings, find_spec=installed) == {
        "kokoro": "disabled in settings (engines.kokoro.enabled = false)"
    }
    disabled = settings.model_copy(deep=True)
    disabled.engines.indextts2.enabled = False
    assert "indextts2" not in build_engines(disabled, find_spec=installed)


def test_load_of_an_incomplete_setup_is_engine_unavailable_with_the_reason(
    tmp_path: Path, speaker: Path
) -> None:
    """A worker told to load an incomplete setup fails with the same reason, not an import error."""
    engine = IndexTTS2Engine(model_dir=model_dir(tmp_path, skip="bpe.model"), speakers={"idx-a": speaker})
    with pytest.raises(EngineUnavailable, match=r"bpe\.model"):
        engine.load()


def test_voices_command_says_why_it_is_off(tmp_path: Path) -> None:
    """``voxgate voices`` lists the voices, then the engines that are off and why."""
    env = {
        "VOXGATE_DATA_DIR": str(tmp_path),
        "VOXGATE_ENGINES__INDEXTTS2__MODEL_DIR": str(tmp_path / "none"),
        "COLUMNS": "400",  # one line per table row
    }
    result = CliRunner().invoke(app, ["voices"], env=env)
    assert result.exit_code == 0, result.output
    assert "joe" in result.output
    row = next(line for line in result.output.splitlines() if "indextts2" in line and "local" in line)
    assert " off " in row
    assert "engines.indextts2.model_dir is not a directory" in row
    assert "pip install 'voxgate[indextts2]'" in row


def test_startup_log_says_why_it_is_off(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Asked for (``enabled = true``) but incomplete: a warning naming the problems; disabled: info."""
    settings = Settings(
        data_dir=tmp_path,
        engines={
            "kokoro": {"enabled": False},
            "indextts2": {
                "enabled": True,
                "model_dir": tmp_path / "none",
                "speakers": {"idx-a": tmp_path / "a.wav"},
            },
        },
    )
    logger = logging.getLogger("voxgate.workers.backend")
    logger.addHandler(caplog.handler)  # also when a logging set-up elsewhere stopped propagation
    try:
        with caplog.at_level(logging.INFO, logger=logger.name):
            LocalBackend(settings, SystemClock(), lambda event: None)  # builds pools, spawns nothing
    finally:
        logger.removeHandler(caplog.handler)
    levels = {r.getMessage().split(":")[0]: r.levelno for r in caplog.records}
    assert levels == {"engine indextts2 is off": logging.WARNING, "engine kokoro is off": logging.INFO}
    (warning,) = {r.getMessage() for r in caplog.records if r.levelno == logging.WARNING}
    assert "model_dir is not a directory" in warning
    assert "voice idx-a" in warning


MODEL_DIR_ENV = "VOXGATE_TEST_INDEXTTS2_MODEL_DIR"


@pytest.mark.skipif(
    not os.environ.get(MODEL_DIR_ENV),
    reason=f"IndexTTS-2 ONNX weights not present: set {MODEL_DIR_ENV}",
)
def test_real_model_speaks_chinese_in_the_reference_voice(tmp_path: Path) -> None:
    """With the real files (and indextts-onnx installed), a sentence comes back as 22.05 kHz speech."""
    import soundfile

    reference = tmp_path / "reference.wav"
    espeak = EspeakEngine()
    chunks = list(
        espeak.synthesize("这是一段参考录音，用来克隆声音。", "espeak-cmn", SynthesisOptions(language="zh"))
    )
    soundfile.write(reference, np.concatenate([c.audio for c in chunks]), chunks[0].sample_rate)
    directory = Path(os.environ[MODEL_DIR_ENV])
    engine = IndexTTS2Engine(model_dir=directory, speakers={"idx-ref": reference}, threads=2)
    engine.load()
    (chunk,) = engine.synthesize("你好，世界。", "idx-ref", SynthesisOptions(language="zh"))
    assert chunk.sample_rate == SAMPLE_RATE
    assert chunk.duration > 0.3
    assert float(np.max(np.abs(chunk.audio))) > 0.01

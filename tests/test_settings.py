"""Settings come from defaults, a TOML file and VOXGATE_* variables, in that order of precedence."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest

from voxgate.settings import Settings


def test_defaults_are_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no file and no environment, every default validates."""
    monkeypatch.delenv("VOXGATE_CONFIG", raising=False)
    settings = Settings.load()
    assert settings.text.max_chars == 4096
    assert settings.engines.kokoro.enabled


def test_toml_file_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The TOML file overrides defaults and VOXGATE_* nested variables override the file."""
    config = tmp_path / "voxgate.toml"
    config.write_text("[engines.kokoro]\nthreads = 1\n[text]\nmax_chars = 100\n")
    monkeypatch.setenv("VOXGATE_TEXT__MAX_CHARS", "50")
    settings = Settings.load(config)
    assert settings.engines.kokoro.threads == 1
    assert settings.text.max_chars == 50


def test_config_file_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """VOXGATE_CONFIG names the TOML file when none is passed."""
    config = tmp_path / "v.toml"
    config.write_text('data_dir = "/tmp/voxgate-test-data"\n')
    monkeypatch.setenv("VOXGATE_CONFIG", str(config))
    assert Settings.load().data_dir == Path("/tmp/voxgate-test-data")


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    """A named config file that does not exist fails loudly instead of silently using defaults."""
    with pytest.raises(FileNotFoundError):
        Settings.load(tmp_path / "absent.toml")


@pytest.mark.parametrize("body", ["[engines.kokoro]\nthreads = 0\n", "unknown_key = 1\n"])
def test_invalid_values_are_rejected(tmp_path: Path, body: str) -> None:
    """Out-of-range values and unknown keys raise a validation error naming them."""
    config = tmp_path / "bad.toml"
    config.write_text(body)
    with pytest.raises(pydantic.ValidationError):
        Settings.load(config)

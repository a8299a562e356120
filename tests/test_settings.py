"""Settings come from defaults, a TOML file and VOXGATE_* variables, in that order of precedence."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest

from voxgate.clock import SystemClock
from voxgate.settings import Settings
from voxgate.workers.backend import LocalBackend


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


def test_api_keys_and_metrics_token_never_show_in_repr_or_worker_settings(tmp_path: Path) -> None:
    """Keys are secrets: masked in repr and dumps, and left out of the settings sent to workers."""
    settings = Settings.load(
        data_dir=tmp_path,
        engines={"kokoro": {"enabled": False}},
        server={"api_keys": {"a": {"key": "k" * 20}}, "metrics_token": "m" * 20},
    )
    assert "k" * 20 not in repr(settings)
    assert "m" * 20 not in settings.model_dump_json()
    assert settings.server.api_keys["a"].key.get_secret_value() == "k" * 20
    spec = LocalBackend(settings, SystemClock(), lambda _event: None).pools["espeak"]._spec
    assert Settings.model_validate_json(spec.settings_json).engines == settings.engines


def test_start_timeout_reaches_each_engine_pool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """engines.<name>.start_timeout_s (env or file) becomes that pool's start-up deadline; it must be > 0."""
    monkeypatch.setenv("VOXGATE_ENGINES__ESPEAK__START_TIMEOUT_S", "7.5")
    settings = Settings.load(data_dir=tmp_path, engines={"kokoro": {"enabled": False}})
    assert (
        LocalBackend(settings, SystemClock(), lambda _event: None).pools["espeak"]._config.start_timeout_s
        == 7.5
    )
    assert (settings.engines.kokoro.start_timeout_s, settings.engines.indextts2.start_timeout_s) == (
        120.0,
        900.0,
    )
    with pytest.raises(pydantic.ValidationError, match="start_timeout_s"):
        Settings.load(data_dir=tmp_path, engines={"piper": {"start_timeout_s": 0}})

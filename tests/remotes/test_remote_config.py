"""``[remotes.NAME]`` configuration, the key's sources, and the HTTP error mapping of remotes."""

from __future__ import annotations

import json
from pathlib import Path

import pydantic
import pytest

from voxgate.errors import EngineError, EngineTimeout, EngineUnavailable, InvalidInput
from voxgate.remotes.backend import build_remotes
from voxgate.remotes.http import refusal, transport_error
from voxgate.settings import Settings

SECRET = "sk-remote-0123456789abcdef"


def remote(**fields: object) -> dict[str, object]:
    return {
        "kind": "openai",
        "url": "http://gpu-box:8000/v1",
        "languages": ["en"],
        "voices": {"s-a": "alloy"},
        **fields,
    }


def test_toml_table_is_read(tmp_path: Path) -> None:
    """The issue's TOML example loads as a remote named by its table."""
    config = tmp_path / "voxgate.toml"
    config.write_text(
        '[remotes.studio]\nkind = "openai"\nurl = "http://gpu-box:8000/v1/"\napi_key_env = "STUDIO_KEY"\n'
        'model = "tts-1"\nlanguages = ["en", "zh"]\nmax_concurrency = 4\n'
        'voices = { "studio-alloy" = "alloy" }\n'
    )
    studio = Settings.load(config).remotes["studio"]
    assert studio.url == "http://gpu-box:8000/v1"
    assert (studio.languages, studio.max_concurrency, studio.voices) == (
        ["en", "zh"],
        4,
        {"studio-alloy": "alloy"},
    )


def test_env_vars_configure_a_remote(monkeypatch: pytest.MonkeyPatch) -> None:
    """VOXGATE_REMOTES__NAME__FIELD builds the same table; the key stays secret in repr and dumps."""
    monkeypatch.setenv("VOXGATE_REMOTES__STUDIO__KIND", "openai")
    monkeypatch.setenv("VOXGATE_REMOTES__STUDIO__URL", "http://gpu-box:8000/v1")
    monkeypatch.setenv("VOXGATE_REMOTES__STUDIO__LANGUAGES", '["zh"]')
    monkeypatch.setenv("VOXGATE_REMOTES__STUDIO__VOICES", '{"studio-alloy": "alloy"}')
    monkeypatch.setenv("VOXGATE_REMOTES__STUDIO__API_KEY", SECRET)
    settings = Settings.load()
    studio = settings.remotes["studio"]
    assert studio.languages == ["zh"]
    assert studio.api_key is not None
    assert studio.api_key.get_secret_value() == SECRET
    assert SECRET not in repr(settings)
    assert SECRET not in settings.model_dump_json()  # what worker processes are sent
    assert SECRET not in json.dumps(settings.model_dump(mode="json"))


def test_every_kind_is_built() -> None:
    """openai, indextts2 and dashscope tables are accepted (dashscope with its WebSocket url)."""
    assert Settings.load(remotes={"studio": remote(kind="indextts2")}).remotes["studio"].kind == "indextts2"
    sambert = remote(kind="dashscope", url="wss://dashscope.aliyuncs.com/api-ws/v1/inference")
    assert Settings.load(remotes={"studio": sambert}).remotes["studio"].kind == "dashscope"


@pytest.mark.parametrize(
    ("name", "fields", "message"),
    [
        ("piper", {}, "remote name"),
        ("Studio", {}, "remote name"),
        ("studio", {"kind": "grpc"}, "unknown remote kind"),
        ("studio", {"url": "ftp://gpu-box/v1"}, "http"),
        ("studio", {"url": f"http://user:{SECRET}@gpu-box/v1"}, "credentials"),
        ("studio", {"languages": []}, "languages"),
        ("studio", {"voices": {}}, "voices"),
    ],
)
def test_bad_tables_are_refused(name: str, fields: dict[str, object], message: str) -> None:
    """A remote named like a local engine, of an unknown kind, or with bad url/languages/voices is refused."""
    with pytest.raises(pydantic.ValidationError, match=message):
        Settings.load(remotes={name: remote(**fields)})


def test_key_from_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """api_key_env is read at build; a missing variable or two key sources fail naming the variable only."""
    monkeypatch.delenv("STUDIO_KEY", raising=False)
    with pytest.raises(ValueError, match="STUDIO_KEY is not set"):
        build_remotes(Settings.load(remotes={"studio": remote(api_key_env="STUDIO_KEY")}))
    both = Settings.load(remotes={"studio": remote(api_key_env="STUDIO_KEY", api_key=SECRET)})
    with pytest.raises(ValueError, match="not both") as refused:
        build_remotes(both)
    assert SECRET not in str(refused.value)


@pytest.mark.parametrize(
    ("status", "body", "expected", "field"),
    [
        (400, {"error": {"message": "unknown voice 'x'", "param": "voice"}}, InvalidInput, "voice"),
        (422, {"error": {"message": "too long", "param": "input"}}, InvalidInput, "text"),
        (413, b"", InvalidInput, "text"),
        (400, {"error": {"message": "unknown model", "param": "model"}}, EngineError, None),
        (401, b"", EngineUnavailable, None),
        (404, b"", EngineUnavailable, None),
        (408, b"", EngineError, None),
        (429, b"", EngineError, None),
        (500, b"Traceback (most recent call last): secret internals", EngineError, None),
        (503, b"", EngineError, None),
    ],
)
def test_status_mapping(status: int, body: object, expected: type[Exception], field: str | None) -> None:
    """4xx is the client's input (naming the field); key/url/model, 408, 429 and 5xx are the engine's."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    error = refusal("studio", status, raw)
    assert type(error) is expected
    if field is not None:
        assert isinstance(error, InvalidInput)
        assert error.field == field
    assert "Traceback" not in str(error)


def test_transport_failures_are_engine_failures() -> None:
    """A read timeout is EngineTimeout; refused or timed-out connections are EngineUnavailable."""
    import httpx

    assert isinstance(transport_error("s", httpx.ReadTimeout("slow"), 2.0), EngineTimeout)
    assert type(transport_error("s", httpx.ConnectError("refused"), 2.0)) is EngineUnavailable
    assert type(transport_error("s", httpx.ConnectTimeout("slow"), 2.0)) is EngineUnavailable


def test_indextts2_kind_defaults_apply_through_env_vars(monkeypatch: pytest.MonkeyPatch) -> None:
    """VOXGATE_REMOTES__NAME__KIND=indextts2 gets IndexTTS-2's defaults; a field set by env var wins."""
    monkeypatch.setenv("VOXGATE_REMOTES__INDEXTTS__KIND", "indextts2")
    monkeypatch.setenv("VOXGATE_REMOTES__INDEXTTS__URL", "http://gpu-box:6006")
    monkeypatch.setenv("VOXGATE_REMOTES__INDEXTTS__LANGUAGES", '["zh"]')
    monkeypatch.setenv("VOXGATE_REMOTES__INDEXTTS__VOICES", '{"indextts-a": "/srv/a.wav"}')
    monkeypatch.setenv("VOXGATE_REMOTES__INDEXTTS__SAMPLE_RATE", "24000")
    indextts = Settings.load().remotes["indextts"]
    assert (indextts.sample_rate, indextts.prior_overhead_s, indextts.model) == (24000, 1.5, "IndexTTS-2")

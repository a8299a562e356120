"""``voxgate say`` and ``voxgate voices`` go through the Synthesizer, in this process or on a server.

Real everything: voxgate A (espeak only, keyed) serves on loopback as the ``openai`` remote ``a``
of the command's configuration, whose ``qos.default_voices`` makes A's voice the English default;
the remote ``down`` points at a port nothing listens on. The same configuration serves as
voxgate B for ``--server``. The commands run through typer's CliRunner in this process, with
real worker subprocesses.
"""

from __future__ import annotations

import io
import sys
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import structlog
from typer.testing import CliRunner, Result

from voxgate.audio.wav import read_pcm_wav
from voxgate.cli import app
from voxgate.cli_common import only_engines
from voxgate.requests import SynthesisRequest
from voxgate.settings import Settings
from voxgate.testing import free_port, serve_in_thread
from voxgate.wiring import build_synthesizer

KEY = "cli-test-key-0123456789-secret"


def _remote_settings(data_dir: Path) -> Settings:
    """A: espeak only (1 worker), one API key."""
    return Settings.load(
        data_dir=data_dir,
        engines={"kokoro": {"enabled": False}, "piper": {"enabled": False}, "espeak": {"workers": 1}},
        qos={"fallbacks": {"*": ["espeak"]}, "limits": {"default": "100000/minute"}},
        server={"api_keys": {"gateway": {"key": KEY}}},
    )


CONFIG = """
data_dir = "{data_dir}"

[engines.kokoro]
enabled = false

[engines.piper]
enabled = false

[engines.espeak]
workers = 1

[qos]
fallbacks = {{ "*" = ["espeak"] }}
default_voices = {{ en = "a-us" }}

[qos.limits]
default = "100000/minute"

[remotes.a]
kind = "openai"
url = "{remote}/v1"
api_key = "{key}"
model = "voxgate"
languages = ["en"]
voices = {{ "a-us" = "espeak-en-us" }}

[remotes.down]
kind = "openai"
url = "http://127.0.0.1:{down_port}/v1"
languages = ["en"]
voices = {{ "down-us" = "alloy" }}
connect_timeout_s = 0.5
"""
"""The command's configuration: espeak locally, remotes ``a`` (A) and ``down`` (nothing listens);
the English default is A's voice ``a-us``."""


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Voxgate A."""
    with serve_in_thread(_remote_settings(tmp_path_factory.mktemp("a"))) as url:
        yield url


@pytest.fixture(scope="module")
def config(remote: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The command's TOML configuration file."""
    path = tmp_path_factory.mktemp("cli") / "voxgate.toml"
    text = CONFIG.format(data_dir=path.parent / "data", remote=remote, key=KEY, down_port=free_port())
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def gateway(config: Path) -> Iterator[str]:
    """Voxgate B: the same configuration, served."""
    with serve_in_thread(Settings.load(config)) as url:
        yield url


def run(*args: str) -> Result:
    """Run ``voxgate ARGS`` in this process (no VOXGATE_* environment leaks in; wide console)."""
    env = {"VOXGATE_CONFIG": None, "VOXGATE_API_KEY": None, "COLUMNS": "200"}
    return CliRunner().invoke(app, list(args), env=env)


@contextmanager
def access_log_on_stderr() -> Iterator[None]:
    """Point structlog (the servers' access log; unconfigured, it prints to the current stdout) at
    the real stderr meanwhile."""
    saved = structlog.get_config()
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.__stderr__))
    try:
        yield
    finally:
        structlog.configure(**saved)


def wav_seconds(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as wav:
        return wav.getnframes() / wav.getframerate()


def test_say_in_process_uses_the_default_remote_voice_and_segments(config: Path, tmp_path: Path) -> None:
    """In process, `say` without a voice speaks the configured default (a remote voice) over two sentences."""
    out = tmp_path / "out.wav"
    result = run(
        "say", "The birch canoe slid on the smooth planks. Glue the sheet.", "-o", str(out), "-c", str(config)
    )
    assert result.exit_code == 0, result.output
    assert "a-us (a)" in result.stderr
    assert "degraded" not in result.stderr
    assert 2.0 < wav_seconds(out.read_bytes()) < 10.0


def test_say_in_process_falls_back_when_the_remote_is_down(config: Path, tmp_path: Path) -> None:
    """In process, a voice whose remote is down is spoken by its chain's espeak, and the CLI says so."""
    out = tmp_path / "out.wav"
    result = run(
        "say", "Four hours of steady work faced us.", "-v", "down-us", "-o", str(out), "-c", str(config)
    )
    assert result.exit_code == 0, result.output
    assert "(espeak)" in result.stderr
    assert "degraded: fallback engine espeak spoke (down: " in result.stderr
    assert wav_seconds(out.read_bytes()) > 1.0


def test_say_refuses_bad_input_without_a_traceback(config: Path, tmp_path: Path) -> None:
    """An unknown voice exits 2 naming the field before any engine starts; no traceback."""
    result = run("say", "Hello.", "-v", "nobody", "-o", str(tmp_path / "x.wav"), "-c", str(config))
    assert result.exit_code == 2
    assert "voice: unknown voice 'nobody'" in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "x.wav").exists()


def test_say_through_a_server(gateway: str, tmp_path: Path) -> None:
    """`say --server` asks a running voxgate's native API: its default voice, its engine, its audio."""
    out = tmp_path / "out.mp3"
    result = run("say", "Rice is often served in round bowls.", "--server", gateway, "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "a-us (a)" in result.stderr
    assert out.read_bytes()[:3] in (b"ID3", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2")


def test_say_through_a_server_reports_refusals_and_absence(gateway: str, tmp_path: Path) -> None:
    """A server's 4xx exits 2 with its message; an unreachable server exits 1; never a traceback."""
    bad = run("say", "Hello.", "-v", "nobody", "--server", gateway, "-o", str(tmp_path / "x.wav"))
    assert bad.exit_code == 2, bad.output
    assert "server answered 400: unknown voice 'nobody'" in bad.stderr
    gone = run("say", "Hello.", "--server", f"http://127.0.0.1:{free_port()}", "-o", str(tmp_path / "x.wav"))
    assert gone.exit_code == 1, gone.output
    assert "cannot reach" in gone.stderr
    assert "Traceback" not in bad.output + gone.output


def test_voices_lists_remote_voices_and_why_engines_are_off(config: Path) -> None:
    """`voices` lists remote voices and chains, a remote unreachable, and the setting that disables piper."""
    result = run("voices", "-c", str(config))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert any("a-us" in line and "a → espeak" in line for line in lines)
    assert any("down-us" in line for line in lines)
    assert any(" a " in line and "ready" in line and "unreachable" not in line for line in lines)
    assert any(" down " in line and "unreachable" in line for line in lines)
    assert any("piper" in line and "engines.piper.enabled = false" in line for line in lines)
    assert KEY not in result.output


def test_voices_through_a_server(gateway: str) -> None:
    """`voices --server` lists the server's voices (remote ones too) and its engines' readiness."""
    result = run("voices", "--server", gateway)
    assert result.exit_code == 0, result.output
    assert "a-us" in result.stdout
    assert "espeak-en-us" in result.stdout
    assert any(" down " in line and "not ready" in line for line in result.stdout.splitlines())


def test_server_speaks_the_default_remote_voice(gateway: str) -> None:
    """A request naming no voice gets the configured default, a remote engine's voice."""
    body = {"text": "The box was thrown beside the parked truck.", "format": "wav"}
    response = httpx.post(f"{gateway}/api/v1/tts", json=body, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["X-Voxgate-Voice"] == "a-us"
    assert response.headers["X-Voxgate-Engine"] == "a"


def test_unknown_default_voice_stops_the_start(config: Path, tmp_path: Path) -> None:
    """A default voice that is unknown, or does not read its language, stops the start naming the setting."""
    settings = Settings.load(config)
    for wrong, message in (("nobody", "unknown voice 'nobody'"), ("espeak-de", "does not read 'en'")):
        qos = settings.qos.model_copy(update={"default_voices": {"en": wrong}})
        with pytest.raises(ValueError, match=rf"qos\.default_voices\.en: .*{message}"):
            build_synthesizer(settings.model_copy(update={"qos": qos}))
    wrong = tmp_path / "wrong.toml"
    wrong.write_text(config.read_text().replace('en = "a-us"', 'en = "nobody"'))
    result = run("serve", "-c", str(wrong))
    assert result.exit_code == 2
    assert "qos.default_voices.en: unknown voice 'nobody'" in result.stderr
    assert "Traceback" not in result.output


def test_only_engines_keeps_the_chains_of_the_request(config: Path) -> None:
    """A one-shot command's settings keep just the named engines, and the defaults naming their voices."""
    settings = Settings.load(config)
    full = build_synthesizer(settings)
    kept = only_engines(settings, ["espeak"], full.voices())
    assert kept.engines.espeak.enabled
    assert not kept.engines.piper.enabled
    assert kept.remotes == {}
    assert kept.qos.default_voices == {}  # a-us belongs to the remote a, which is left out
    with_a = only_engines(settings, ["a", "espeak"], full.voices())
    assert list(with_a.remotes) == ["a"]
    assert with_a.qos.default_voices == {"en": "a-us"}
    assert build_synthesizer(with_a).engines_for(SynthesisRequest("Hello.")) == ["a", "espeak"]


def test_say_streams_to_stdout_in_process_and_through_a_server(config: Path, gateway: str) -> None:
    """`say -o -` writes a playable WAV stream to stdout, in this process and through a server."""
    text = "The juice of lemons makes fine punch. The fish twisted and turned."
    for where in (["-c", str(config)], ["--server", gateway]):
        with access_log_on_stderr():  # the servers' threads would log into the captured stdout
            result = run("say", text, "-v", "espeak-en-us", "-o", "-", *where)
        assert result.exit_code == 0, result.stderr
        assert "(espeak)" in result.stderr
        assert "→ stdout" in result.stderr
        decoded = read_pcm_wav(result.stdout_bytes)
        assert decoded is not None
        assert 2.0 < len(decoded[0]) / decoded[1] < 10.0


def test_serve_lets_the_event_loop_take_the_interpreter_lock_back_within_a_millisecond(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``voxgate serve`` shortens the GIL switch interval before uvicorn runs (cli.GIL_SWITCH_INTERVAL_S)."""
    import signal

    import uvicorn

    import voxgate.logs
    from voxgate.cli import GIL_SWITCH_INTERVAL_S

    seen: list[float] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: seen.append(sys.getswitchinterval()))
    monkeypatch.setattr(voxgate.logs, "configure_logging", lambda **kwargs: None)  # keep this process's
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    default = sys.getswitchinterval()
    try:
        result = CliRunner().invoke(app, ["serve", "--config", str(config)])
    finally:
        sys.setswitchinterval(default)
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    assert result.exit_code == 0, result.output
    assert seen == [GIL_SWITCH_INTERVAL_S]
    assert default > GIL_SWITCH_INTERVAL_S

"""bench/remote.py's pure helpers: texts, B-against-A statistics, the failover window, the report."""

from __future__ import annotations

import math
import sys
import tomllib
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[2] / "bench"))

from _sla_server import toml_config
from remote import Call, Failover, Sample, gateway_settings, paired, pairs, render, sentences


def test_texts_are_pairs_of_corpus_sentences() -> None:
    """Each text is two consecutive sentences of the corpus, without its comment lines."""
    lines = sentences()
    assert lines[0] == "The birch canoe slid on the smooth planks."
    assert not any(line.startswith("#") for line in lines)
    assert pairs(lines, 2)[1] == f"{lines[2]} {lines[3]}"


def test_paired_compares_only_texts_both_answered() -> None:
    """Medians, ratio and differences use the texts both servers answered with 200."""
    samples = [
        Sample("A", "whole", 0, 1.0, 200, "piper"),
        Sample("B", "whole", 0, 1.1, 200, "a"),
        Sample("A", "whole", 1, 2.0, 200, "piper"),
        Sample("B", "whole", 1, 2.0, 200, "a"),
        Sample("A", "whole", 2, 9.0, 200, "piper"),
        Sample("B", "whole", 2, 0.1, 503, ""),
    ]
    result = paired(samples, "whole")
    assert result.count == 2
    assert result.ratio == (1.1 + 2.0) / (1.0 + 2.0)
    assert math.isclose(result.paired_difference_ms, 50.0)
    assert paired(samples, "ttfa").count == 0


def test_failover_window_and_recovery_times() -> None:
    """The window holds the calls in flight at the kill until A answered again; times add up."""
    run = Failover(killed_at=10.0, restarted_at=20.0, ready_at=30.0, back_at=33.0)
    run.calls = [
        Call(8.0, 9.0, 200, "a", ""),
        Call(9.5, 11.0, 200, "piper", "a:error"),
        Call(12.0, 13.0, 200, "piper", "a:not_ready"),
        Call(33.0, 33.5, 200, "a", ""),
        Call(34.0, 34.5, 200, "a", ""),
    ]
    summary = run.summary()
    assert summary["window_requests"] == 3
    assert summary["window_engines"] == {"piper": 2, "a": 1}
    assert summary["ready_to_used_s"] == 3.0
    assert summary["restart_to_used_s"] == 13.0
    assert summary["5xx"] == 0
    report = render([paired([], "whole"), paired([], "ttfa")], summary, {"mode": "test"})
    assert "| A restarted → ready → B uses A again | — | 10.0 s + 3.0 s |" in report


def test_gateway_config_is_valid_toml_with_the_remote_table() -> None:
    """B's settings become TOML with ``[remotes.a]``, its languages list and its voice map."""
    parsed = tomllib.loads(toml_config(gateway_settings("http://127.0.0.1:1")))
    remote = parsed["remotes"]["a"]
    assert (remote["kind"], remote["url"], remote["languages"]) == ("openai", "http://127.0.0.1:1/v1", ["en"])
    assert remote["voices"] == {"a-joe": "joe"}

"""bench/_kokoro_split.py: the window layout, and that the split graph on all frames is the model."""

from __future__ import annotations

import numpy as np

from _kokoro_split import SplitKokoro, Window, windows
from voxgate.engines._kokoro_timing import with_durations
from voxgate.engines._model_files import kokoro_model_path
from voxgate.engines._onnx import cpu_session
from voxgate.settings import Settings


def test_windows_cover_every_frame_once_with_context_inside_the_sentence() -> None:
    """Cores tile the frames in order (first core, then chunks; a short tail joins the last);
    each window adds context on both sides, clipped to the sentence."""
    plan = windows(200, first=40, chunk=80, left=20, right=20)
    assert [(w.core_start, w.core_end) for w in plan] == [(0, 40), (40, 120), (120, 200)]
    assert [(w.start, w.end) for w in plan] == [(0, 60), (20, 140), (100, 200)]
    longer = windows(150, first=40, chunk=80, left=20, right=20)
    assert [(w.core_start, w.core_end) for w in longer] == [(0, 40), (40, 150)]
    assert [(w.start, w.end) for w in windows(70, first=40, chunk=80, left=20, right=20)] == [(0, 70)]
    tiny = windows(30, first=40, chunk=80, left=20, right=20)
    assert [(w.core_start, w.core_end) for w in tiny] == [(0, 30)]


def test_the_split_graph_on_all_frames_is_the_models_audio_sample_for_sample() -> None:
    """Front part, phase and decoder over every frame at once give what the one-call model gives."""
    data = with_durations(kokoro_model_path(Settings().data_dir / "models"))
    assert data is not None
    split = SplitKokoro(data, lambda model: cpu_session(model, 2))
    whole = cpu_session(data, 2)
    tokens = [50, 83, 156, 43, 16, 102, 4]
    style = np.random.default_rng(0).normal(0, 0.1, (1, 256)).astype(np.float32)
    features = split.front(tokens, style, 1.0)
    streamed = split.decode(features, Window(0, features.frames, 0, features.frames))
    audio, durations = whole.run(
        None,
        {"tokens": np.array([[0, *tokens, 0]]), "style": style, "speed": np.array([1.0], np.float32)},
    )
    assert np.array_equal(streamed, np.asarray(audio).ravel())
    assert np.array_equal(features.durations, np.asarray(durations).ravel())

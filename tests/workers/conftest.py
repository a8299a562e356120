"""Fixtures shared by the worker-layer tests: one local Ray for the ``scale`` tests of the session."""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    """One local Ray for the session (``ray.init(num_cpus=2)``); the backends attach to it."""
    if importlib.util.find_spec("ray") is None:
        pytest.skip("ray is not installed: pip install 'voxgate[ray]'")
    import ray
    from ray import serve

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    with contextlib.suppress(Exception):
        serve.shutdown()
    ray.shutdown()

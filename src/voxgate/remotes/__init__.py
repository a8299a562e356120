"""Remote engines: TTS servers someone else runs, reached over HTTP from the gateway.

An engine is *local* (worker subprocesses, :mod:`voxgate.workers`) or *remote* (this package): an
async client in the gateway's event loop with no subprocess and a bounded number of requests in
flight. :class:`~voxgate.remotes.backend.RemoteBackend` offers remotes through the same
:class:`~voxgate.workers.backend.ExecutionBackend` Protocol as local engines, so admission, the
scheduler, breakers, the estimator, the router, the cache and the SLA tracker treat both alike.

The adapters here are async (they live in the gateway); :mod:`voxgate.engines` stays the sync
adapters that run inside worker processes. Kinds: ``openai`` (:mod:`voxgate.remotes.openai`),
``indextts2`` (:mod:`voxgate.remotes.indextts2`), ``dashscope`` (:mod:`voxgate.remotes.dashscope`,
Alibaba's Sambert through the synchronous ``dashscope`` SDK in a thread pool of its own; the SDK
is the optional extra ``voxgate[dashscope]``).
"""

from __future__ import annotations

from voxgate.remotes.backend import RemoteBackend, build_remotes
from voxgate.remotes.base import RemoteEngine

__all__ = ["RemoteBackend", "RemoteEngine", "build_remotes"]

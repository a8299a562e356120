"""Engine adapters. They run inside worker processes and never import qos/ or api/."""

from voxgate.engines.base import Engine

__all__ = ["Engine"]

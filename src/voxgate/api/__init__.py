"""The access layer: the only code that knows HTTP."""

from voxgate.api.app import create_app

__all__ = ["create_app"]

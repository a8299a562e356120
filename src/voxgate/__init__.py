"""voxgate: self-hosted text-to-speech with guaranteed quality of service."""

__version__ = "0.1.0"

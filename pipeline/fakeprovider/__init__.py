"""A fake WhatsApp Cloud API provider (real HTTP server) for demos, tests and benchmarks."""

from pipeline.fakeprovider.config import FakeConfig
from pipeline.fakeprovider.server import FakeProvider, serve

__all__ = ["FakeConfig", "FakeProvider", "serve"]

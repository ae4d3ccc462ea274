"""A fake WhatsApp Cloud API provider (real HTTP server) for demos, tests and benchmarks."""

from fakeprovider.config import FakeConfig
from fakeprovider.server import FakeProvider, serve

__all__ = ["FakeConfig", "FakeProvider", "serve"]

"""Entry module for the `dramatiq` command: `dramatiq workers.main`.

The one module that configures the broker at import time: Dramatiq's CLI imports it in every
worker process and expects the broker (and the actors) to exist by then. Nothing connects
here; the engine and the HTTP client are made on first use.
"""

import logging

import dramatiq

from pipeline.bootstrap import bootstrap
from pipeline.config import get_settings
from pipeline.observability import logs, tracing
from pipeline.startup import refuse_if_insecure

logging.getLogger("httpx").setLevel(logging.WARNING)

# `dramatiq workers.main` run directly refuses too (the process exits, and dramatiq with it).
refuse_if_insecure(get_settings())
logs.configure(get_settings().wapipe_log_format)
tracing.configure("wapipe-worker")
container = bootstrap()
broker = container.broker
dramatiq.set_broker(broker)

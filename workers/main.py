"""Entry module for the `dramatiq` command: `dramatiq workers.main`.

The one module that configures the broker at import time: Dramatiq's CLI imports it in every
worker process and expects the broker (and the actors) to exist by then. Nothing connects
here; the engine and the HTTP client are made on first use.
"""

import logging

import dramatiq

from pipeline.bootstrap import bootstrap

logging.getLogger("httpx").setLevel(logging.WARNING)

container = bootstrap()
broker = container.broker
dramatiq.set_broker(broker)

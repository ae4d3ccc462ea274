"""The WSGI entry for gunicorn: `gunicorn pipeline.api.wsgi:app`."""

from gunicorn.errors import AppImportError

from pipeline.api.app import create_app
from pipeline.config import get_settings
from pipeline.observability import logs, tracing
from pipeline.startup import insecure_reason

# gunicorn run directly refuses too: this error makes it print the reason and stop, where
# any other exception would make it restart the worker forever.
_unsafe = insecure_reason(get_settings())
if _unsafe is not None:
    raise AppImportError(f"wapipe: {_unsafe}")

logs.configure(get_settings().wapipe_log_format)
tracing.configure("wapipe-api")
app = create_app()

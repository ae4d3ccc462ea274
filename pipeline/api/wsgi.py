"""The WSGI entry for gunicorn: `gunicorn pipeline.api.wsgi:app`."""

from pipeline.api.app import create_app

app = create_app()

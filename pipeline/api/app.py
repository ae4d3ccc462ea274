"""The Flask intake: create_app() wires blueprints over one Container."""

from flask import Flask

from pipeline.api import conversations, health, messages, openapi
from pipeline.api.errors import register_error_handlers
from pipeline.bootstrap import Container, bootstrap
from pipeline.config import Settings
from webhooks import views as webhook_views
from webhooks.receiver import WebhookReceiver

# Meta batches statuses; 1 MiB is generous for a webhook and for any API body.
MAX_BODY_BYTES = 1024 * 1024


def create_app(settings: Settings | None = None, container: Container | None = None) -> Flask:
    app = Flask("wapipe")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.sort_keys = False  # type: ignore[attr-defined]
    wired = app.extensions["wapipe"] = container or bootstrap(settings)
    register_error_handlers(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(messages.bp)
    app.register_blueprint(conversations.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(webhook_views.bp)
    secret = wired.settings.whatsapp_app_secret
    app.wsgi_app = WebhookReceiver(app.wsgi_app, wired.db, secret, MAX_BODY_BYTES)  # type: ignore[method-assign]
    return app

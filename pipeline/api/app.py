"""The Flask intake: create_app() wires blueprints over one Container."""

from typing import NoReturn

from flask import Flask

from inbox import views as inbox_views
from pipeline.api import (
    conversations,
    endpoints,
    health,
    media,
    messages,
    observe,
    openapi,
    templates,
)
from pipeline.api import stream as event_stream
from pipeline.api.bodies import BodyLimit
from pipeline.api.errors import register_error_handlers
from pipeline.bootstrap import Container, bootstrap
from pipeline.config import Settings
from pipeline.domain.media import MAX_MEDIA_BYTES
from pipeline.observability.pipeline_state import PipelineState
from webhooks import views as webhook_views
from webhooks.receiver import PATH, WebhookReceiver

# Meta batches statuses; 1 MiB is generous for a webhook and for any API body. BodyLimit
# enforces it for every request, in front of everything else.
MAX_BODY_BYTES = 1024 * 1024
# A media upload may be as large as Meta takes (a 100 MB document), plus its form's framing.
UPLOAD_PATH = "/v1/media"
UPLOAD_OVERHEAD = 64 * 1024


def create_app(settings: Settings | None = None, container: Container | None = None) -> Flask:
    app = Flask("wapipe")
    app.json.sort_keys = False  # type: ignore[attr-defined]
    wired = app.extensions["wapipe"] = container or bootstrap(settings)
    register_error_handlers(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(messages.bp)
    app.register_blueprint(conversations.bp)
    app.register_blueprint(endpoints.bp)
    app.register_blueprint(event_stream.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(templates.bp)
    app.register_blueprint(media.bp)
    app.register_blueprint(webhook_views.bp)
    app.register_blueprint(inbox_views.bp)
    # The receiver serves this POST in front of Flask; the rule is here so that Flask's answers
    # to the path's other methods (a 405's `Allow`, OPTIONS) name POST too.
    app.add_url_rule(PATH, "webhooks.receive", _served_by_the_receiver, methods=["POST"])
    secret = wired.settings.whatsapp_app_secret
    receiver = WebhookReceiver(app.wsgi_app, wired.db, secret)
    app.wsgi_app = BodyLimit(  # type: ignore[method-assign]
        receiver, MAX_BODY_BYTES, {UPLOAD_PATH: MAX_MEDIA_BYTES + UPLOAD_OVERHEAD}
    )
    # Outermost: every request gets its id and is counted, whoever answers it.
    observe.install(app, PipelineState(wired.db, wired.broker))
    return app


def _served_by_the_receiver() -> NoReturn:
    raise RuntimeError("POST /webhooks/whatsapp is served by webhooks.receiver")

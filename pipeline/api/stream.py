"""GET /v1/events/stream: the company's events live (server-sent events)."""

from flask import Blueprint, Response, request, stream_with_context

from pipeline.api.auth import container, load_principal, principal
from pipeline.events.stream import blocking_stream, start_position

bp = Blueprint("events", __name__, url_prefix="/v1")
bp.before_request(load_principal)

# Set by pipeline.events.stream_worker (`wapipe api`): it serves the stream without a thread.
ADOPT = "wapipe.events.adopt"


@bp.get("/events/stream")
def stream() -> Response:
    last = request.headers.get("Last-Event-ID") or request.args.get("last_event_id")
    db = container().db
    position = start_position(db, last)
    company_id = principal().company_id
    adopt = request.environ.get(ADOPT)
    if adopt is not None:
        adopt(db, company_id, position)
        return Response(status=200)
    body = stream_with_context(blocking_stream(db, company_id, position))
    return Response(body, mimetype="text/event-stream", headers={"Cache-Control": "no-cache"})

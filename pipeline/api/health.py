"""Liveness and readiness."""

from flask import Blueprint, Response, jsonify
from sqlalchemy import text

from pipeline.api.auth import container
from pipeline.api.errors import error_response

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify({"ok": True})


@bp.get("/readyz")
def readyz() -> Response:
    c = container()
    checks: dict[str, str] = {}
    try:
        with c.db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = type(exc).__name__
    try:
        c.broker.client.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = type(exc).__name__
    if all(v == "ok" for v in checks.values()):
        return jsonify({"ok": True, "checks": checks})
    return error_response(503, "UNAVAILABLE", "a dependency is unreachable", checks)

"""Bearer API keys: the key alone decides the company and the acting user."""

from flask import current_app, g, request

from pipeline.bootstrap import Container
from pipeline.services.tenants import Principal, authenticate


def container() -> Container:
    app_container: Container = current_app.extensions["wapipe"]
    return app_container


def load_principal() -> None:
    """A before_request hook for the /v1 blueprint."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    key = token.strip() if scheme.lower() == "bearer" else None
    c = container()
    g.principal = authenticate(c.db, key, c.principals)


def principal() -> Principal:
    current: Principal = g.principal
    return current

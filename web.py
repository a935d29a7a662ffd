"""Request hooks: authentication per mode, loopback Host check, CORS and security headers."""
from __future__ import annotations

from flask import Flask, current_app, g, request

from audit import Actor
from auth import Principal, bearer_token
from hosts import host_is_loopback
from errors import AuthenticationError, PermissionDeniedError

PUBLIC_PATHS = frozenset({"/health", "/api/user/api-keys/providers", "/openapi.json"})
CORS_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
CORS_HEADERS = "Authorization, Content-Type"
DEFAULT_HEADERS = (("Vary", "Origin"), ("X-Content-Type-Options", "nosniff"), ("Cache-Control", "no-store"))


def client_ip() -> str:
    """The peer address (proxies are not trusted by default)."""
    return request.remote_addr or ""


def _authenticate() -> None:
    services = current_app.extensions["byok"]
    config = services.config
    g.principal, g.actor = None, Actor("anonymous", client_ip())
    if config.auth_mode == "local":
        if not host_is_loopback(request.host):
            raise PermissionDeniedError("Local mode only answers requests addressed to localhost")
        g.principal = Principal(config.local_user, True, "local")
        g.actor = g.principal.actor(client_ip())
        return
    if request.method == "OPTIONS" or request.path in PUBLIC_PATHS:
        return
    ip = client_ip()
    services.throttle.check(ip)
    try:
        principal = services.tokens.verify(bearer_token(request.headers.get("Authorization")))
        if principal is None:
            raise AuthenticationError("Invalid or revoked token")
    except AuthenticationError:
        services.throttle.fail(ip)
        raise
    g.principal, g.actor = principal, principal.actor(ip)


def _cors_and_headers(response):
    # Lookups of absent headers raise and catch a KeyError inside werkzeug, on every request:
    # read the environ and scan the response's header list once instead.
    origin = request.environ.get("HTTP_ORIGIN")
    headers = response.headers
    if origin and origin in current_app.extensions["byok"].config.cors_origins:
        headers["Access-Control-Allow-Origin"] = origin
        headers["Access-Control-Allow-Methods"] = CORS_METHODS
        headers["Access-Control-Allow-Headers"] = CORS_HEADERS
        headers["Access-Control-Max-Age"] = "600"
    present = {name.lower() for name, _ in headers}
    for name, value in DEFAULT_HEADERS:
        if name.lower() not in present:
            headers.add(name, value)
    return response


def install(app: Flask) -> None:
    """Register the hooks on the app."""
    app.before_request(_authenticate)
    app.after_request(_cors_and_headers)

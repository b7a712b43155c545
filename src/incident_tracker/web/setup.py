"""Wiring the web UI into the app: signed cookie session, CSRF protection, the blueprint."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from flask import Blueprint, Flask, Response, request
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFError, CSRFProtect

from incident_tracker.core.config import Settings
from incident_tracker.core.problem import Problem
from incident_tracker.core.secrets import session_key
from incident_tracker.errors import error_response
from incident_tracker.web.views import blp

SESSION_LIFETIME = timedelta(hours=12)  # one long outage shift


class ProxyAwareSessionInterface(SecureCookieSessionInterface):
    """Mark the cookie Secure whenever the request came over HTTPS (ProxyFix sees the ALB's)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return request.is_secure or super().get_cookie_secure(app)


def _csrf_failed(error: CSRFError) -> Response:
    return error_response(
        Problem(
            400,
            f"{error.description} The form was not sent from this site's page, or the page is "
            "older than your sign-in. Go back, reload the page and submit again.",
        )
    )


def install_web(app: Flask, settings: Settings, csrf_exempt: Iterable[Blueprint]) -> None:
    app.config.update(
        SECRET_KEY=session_key(settings),
        SESSION_COOKIE_NAME="incident_tracker_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
        # A form stays valid as long as the session: a responder may leave a page open for hours.
        WTF_CSRF_TIME_LIMIT=None,
    )
    app.session_interface = ProxyAwareSessionInterface()
    csrf = CSRFProtect(app)
    for blueprint in csrf_exempt:
        csrf.exempt(blueprint)
    app.register_error_handler(CSRFError, _csrf_failed)
    app.register_blueprint(blp)

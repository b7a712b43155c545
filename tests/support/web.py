"""The web UI driven in-process through Flask's test client: signing in, CSRF tokens."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from werkzeug.test import TestResponse


def csrf_token(page: TestResponse) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


def sign_in(client: FlaskClient, token: str, **headers: str) -> TestResponse:
    form = client.get("/sign-in", headers=headers)
    return client.post(
        "/sign-in",
        data={"token": token, "csrf_token": csrf_token(form), "next": "/"},
        headers=headers,
    )

"""Who is calling: the one place the caller's identity is kept for a request."""

from __future__ import annotations

from dataclasses import dataclass

from flask import g

READ = "incidents:read"
WRITE = "incidents:write"
ADMIN = "admin"
CHANGES_WRITE = "changes:write"  # the pipeline records deployments; incidents:write does not
SCOPES = (READ, WRITE, CHANGES_WRITE, ADMIN)


@dataclass(frozen=True)
class Identity:
    name: str
    scopes: frozenset[str]
    token_id: int | None = None  # the API token this identity was proven with; None: a person
    display_name: str | None = None  # a person's name, from the identity provider

    @property
    def is_person(self) -> bool:
        """Signed in by the load balancer (name is their email), not proven with a token."""
        return self.token_id is None

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.scopes

    def has(self, scope: str) -> bool:
        """`admin` implies every other scope."""
        return scope in self.scopes or self.is_admin


def current_identity() -> Identity:
    """The authenticated caller; set before any /api/v1 view (bearer) or signed-in page runs."""
    identity: Identity = g.identity
    return identity

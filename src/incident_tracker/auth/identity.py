"""Who is calling: the one place the caller's identity is resolved for every request.

Tokens and scopes arrive with the access-control work; until then every caller is the
local operator with every scope.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import g

SCOPES = ("incidents:read", "incidents:write", "admin")


@dataclass(frozen=True)
class Identity:
    name: str
    scopes: frozenset[str]

    @property
    def is_admin(self) -> bool:
        return "admin" in self.scopes


LOCAL_OPERATOR = Identity(name="local", scopes=frozenset(SCOPES))


def current_identity() -> Identity:
    identity: Identity = g.get("identity", LOCAL_OPERATOR)
    return identity

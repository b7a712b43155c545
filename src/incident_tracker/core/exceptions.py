"""The failures a rule can report, named for what went wrong, not for HTTP.

Service functions raise these; `incident_tracker.errors` alone turns them into problem JSON
(or an error page), so a rule can be called from the API, the web UI, the CLI or a test alike.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A rule refused the request. `errors` names fields; `extra` is machine-readable detail."""

    def __init__(
        self,
        detail: str,
        *,
        type_: str = "about:blank",
        errors: dict[str, list[str]] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.type = type_
        self.errors = errors
        self.extra = extra


class Malformed(DomainError):
    """The input cannot be read at all (e.g. a cursor this service never issued)."""


class NotFound(DomainError):
    """The thing named does not exist."""


class NotPermitted(DomainError):
    """The caller may not do this (e.g. only an admin may reopen a closed incident)."""


class Conflict(DomainError):
    """The request clashes with the current state (an illegal move, a taken dedup_key)."""


class VersionMismatch(DomainError):
    """The caller's idea of the current version is out of date."""


class Invalid(DomainError):
    """A value breaks a rule; `errors` says which field."""

    @classmethod
    def field(cls, name: str, message: str, detail: str | None = None) -> Invalid:
        return cls(detail or f"{name} {message}", errors={name: [message]})

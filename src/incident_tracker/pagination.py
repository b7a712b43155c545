"""Opaque keyset cursors: the client sees a token, the server reads the last id it returned."""

from __future__ import annotations

import base64
import binascii

from incident_tracker.errors import Problem

_PREFIX = "v1:"


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"{_PREFIX}{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The id after which the next page starts; 400 for anything we did not issue."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
        if not text.startswith(_PREFIX):
            raise ValueError(text)
        last_id = int(text[len(_PREFIX) :])
        if last_id < 1:
            raise ValueError(text)
    except (ValueError, binascii.Error, UnicodeError):
        raise Problem(
            400, "cursor is not one this service issued", errors={"cursor": ["invalid cursor"]}
        ) from None
    return last_id

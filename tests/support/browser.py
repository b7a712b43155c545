"""What the browser tests share with their fixtures: the served app, page openers, screenshots."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Page

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "reports" / "screenshots"


@dataclass(frozen=True)
class Server:
    url: str
    admin_token: str
    read_only_token: str


NewPage = Callable[..., "Page"]

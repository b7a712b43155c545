"""Fixtures of the delivery tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.deploy_steps import FAKE_KUBECTL


@pytest.fixture
def kubectl(tmp_path: Path) -> Path:
    """The fake kubectl of tests/support/deploy_steps.py, as an executable in tmp_path."""
    fake = tmp_path / "kubectl"
    fake.write_text(FAKE_KUBECTL)
    fake.chmod(0o755)
    return fake

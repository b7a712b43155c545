"""ci/build-image: the checks made before anything is built."""

from __future__ import annotations

import pytest

from tests.support.deploy_steps import run_step


@pytest.mark.parametrize("args", [(), ("main",), ("abc",), ("0" * 41,), ("a1b2c3d", "extra")])
def test_build_image_takes_one_commit_id(args: tuple[str, ...]) -> None:
    result = run_step("build-image", *args)
    assert result.returncode != 0
    assert "usage: ci/build-image SHA" in result.stderr


def test_build_image_refuses_an_unknown_builder() -> None:
    result = run_step("build-image", "a1b2c3d", env={"BUILDER": "kaniko"})
    assert result.returncode != 0
    assert "BUILDER must be buildah or docker" in result.stderr

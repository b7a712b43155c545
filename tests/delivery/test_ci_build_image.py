"""ci/build-image: the checks made before anything is built, and a build under the
capabilities of Jenkins' build pod."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.deploy_steps import run_step
from tests.support.programs import require_program
from tests.support.steps import ROOT


@pytest.mark.parametrize("args", [(), ("main",), ("abc",), ("0" * 41,), ("a1b2c3d", "extra")])
def test_build_image_takes_one_commit_id(args: tuple[str, ...]) -> None:
    result = run_step("build-image", *args)
    assert result.returncode != 0
    assert "usage: ci/build-image SHA" in result.stderr


def test_build_image_refuses_an_unknown_builder() -> None:
    result = run_step("build-image", "a1b2c3d", env={"BUILDER": "kaniko"})
    assert result.returncode != 0
    assert "BUILDER must be buildah or docker" in result.stderr


def build_pod_capabilities() -> list[str]:
    """What Jenkins' build pod adds after dropping ALL (ci/jenkins/jenkins.yaml)."""
    casc = yaml.safe_load((ROOT / "ci" / "jenkins" / "jenkins.yaml").read_text())
    for cloud in casc["jenkins"]["clouds"]:
        for template in cloud["kubernetes"]["templates"]:
            if template["name"] == "incident-tracker-build":
                (buildah,) = yaml.safe_load(template["yaml"])["spec"]["containers"]
                context = buildah["securityContext"]
                assert context["capabilities"]["drop"] == ["ALL"]
                assert context["allowPrivilegeEscalation"] is True  # so no no_new_privs below
                return [str(cap) for cap in context["capabilities"]["add"]]
    raise AssertionError("no incident-tracker-build template")


def test_build_image_runs_a_run_step_with_the_build_pod_s_capabilities(tmp_path: Path) -> None:
    """ci/build-image under exactly the capability set of the Jenkins build pod (root, its
    bounding set; setpriv), with a RUN step: buildah must not ask for a capability the pod
    lacks. Not reproduced here: the node's RuntimeDefault seccomp profile, which is why the
    pod needs SYS_ADMIN at all (https://github.com/containers/buildah/issues/4563); this
    machine lets buildah fall back to a user namespace. Docs for the capability set:
    https://kubernetes.io/docs/tasks/configure-pod-container/security-context/#set-capabilities-for-a-container
    """
    buildah = require_program("buildah", "buildah")
    busybox = require_program("busybox", "busybox-static")
    if os.geteuid() != 0:
        pytest.skip("the pod's container runs as root; setpriv's bounding set needs root here")
    context = tmp_path / "context"
    context.mkdir()
    shutil.copy(busybox, context / "busybox")
    (context / "Dockerfile").write_text(
        'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "mkdir", "/built"]\n'
    )
    storage = tmp_path / "storage.conf"
    storage.write_text(
        f'[storage]\ndriver = "vfs"\ngraphroot = "{tmp_path / "graph"}"\n'
        f'runroot = "{tmp_path / "run"}"\n'
    )
    bounding = ",".join(["-all", *(f"+{cap.lower()}" for cap in build_pod_capabilities())])
    result = subprocess.run(
        [
            "setpriv",
            f"--bounding-set={bounding}",
            "--inh-caps=-all",
            "--",
            "ci/build-image",
            "a1b2c3d",
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "BUILDER": "buildah",
            "BUILDAH_ISOLATION": "chroot",
            "BUILD_CONTEXT": str(context),
            "IMAGE_ARCHIVE": str(tmp_path / "image.tar"),
            "IMAGE_NAME": "it-build-pod",
            "CONTAINERS_STORAGE_CONF": str(storage),
            "PATH": f"{Path(buildah).parent}:{os.environ['PATH']}",
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert (tmp_path / "image.tar").stat().st_size > 0

"""The AWS-facing ci/ steps against moto_server on loopback: push, resolve, release tag.

The entry points run exactly as the pipelines call them (ci/push-image, ci/resolve-digest,
ci/tag-release); only skopeo is a stand-in, since moto has no registry endpoint.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.support.programs import moto_server

ROOT = Path(__file__).resolve().parents[2]
FAKE_SKOPEO = Path(__file__).with_name("fakes") / "skopeo.py"
REGION = "eu-west-1"
SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def env(moto_endpoint: str, tmp_path: Path) -> dict[str, str]:
    """A fresh immutable repository per test, and the environment the steps get in CI."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    skopeo = bin_dir / "skopeo"
    skopeo.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_SKOPEO}" "$@"\n')
    skopeo.chmod(0o755)
    values = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "FAKE_SKOPEO_LOG": str(tmp_path / "skopeo.log"),
    }
    repo = ecr(values).create_repository(
        repositoryName=f"incident-tracker-{uuid.uuid4().hex[:8]}",
        imageTagMutability="IMMUTABLE",
        imageScanningConfiguration={"scanOnPush": True},
    )["repository"]
    values["ECR_REPOSITORY_URL"] = repo["repositoryUri"]
    return values


def ecr(env: dict[str, str]) -> Any:
    return boto3.client(
        "ecr",
        region_name=REGION,
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def step(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return subprocess.run(
        [str(ROOT / "ci" / args[0]), *args[1:]],
        env={**clean, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def archive(tmp_path: Path, content: bytes) -> Path:
    path = tmp_path / f"image-{uuid.uuid4().hex[:6]}.tar"
    path.write_bytes(content)
    return path


def pushed(env: dict[str, str], tmp_path: Path, sha: str = SHA, content: bytes = b"one") -> str:
    """Push, then scan as ECR's scan on push does (moto scans only when asked)."""
    result = step(env, "push-image", sha, "--archive", str(archive(tmp_path, content)))
    assert result.returncode == 0, result.stderr
    repo_name = env["ECR_REPOSITORY_URL"].split("/", 1)[1]
    client = ecr(env)
    # The same image pushed again was scanned already (one scan per image and day).
    with contextlib.suppress(client.exceptions.LimitExceededException):
        client.start_image_scan(repositoryName=repo_name, imageId={"imageTag": sha})
    return result.stdout.strip()


def digest_of(env: dict[str, str], tag: str) -> str:
    repo_name = env["ECR_REPOSITORY_URL"].split("/", 1)[1]
    details = ecr(env).describe_images(repositoryName=repo_name, imageIds=[{"imageTag": tag}])
    digest: str = details["imageDetails"][0]["imageDigest"]
    return digest


def test_push_records_the_digest_under_the_sha_tag(env: dict[str, str], tmp_path: Path) -> None:
    ref = pushed(env, tmp_path)
    assert ref == f"{env['ECR_REPOSITORY_URL']}@{digest_of(env, SHA)}"
    assert ref.split("@")[1].startswith("sha256:") and len(ref.split("@")[1]) == 71
    log = Path(env["FAKE_SKOPEO_LOG"]).read_text()
    assert f"docker://{env['ECR_REPOSITORY_URL']}:{SHA}" in log
    assert "oci-archive:" in log and "--dest-authfile" in log


def test_push_rerun_for_the_same_sha_keeps_the_existing_image(
    env: dict[str, str], tmp_path: Path
) -> None:
    first = pushed(env, tmp_path, content=b"first build")
    second = pushed(env, tmp_path, content=b"a rebuild is never bit-identical")
    assert second == first
    assert len(Path(env["FAKE_SKOPEO_LOG"]).read_text().splitlines()) == 1


def test_push_without_a_built_archive_says_what_to_run(env: dict[str, str]) -> None:
    result = step(env, "push-image", SHA, "--archive", "build/does-not-exist.tar")
    assert result.returncode == 1
    assert "run ci/build-image first" in result.stderr


def test_resolve_returns_the_pushed_digest(env: dict[str, str], tmp_path: Path) -> None:
    ref = pushed(env, tmp_path)
    result = step(env, "resolve-digest", SHA)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ref


def test_resolve_of_a_sha_never_pushed_fails_clearly(env: dict[str, str]) -> None:
    result = step(env, "resolve-digest", "f" * 40)
    assert result.returncode == 1
    assert f"no image tagged {'f' * 40}" in result.stderr
    assert "merge it to main first" in result.stderr
    assert result.stdout == ""


def test_resolve_in_a_missing_repository_names_it(env: dict[str, str]) -> None:
    missing = {**env, "ECR_REPOSITORY_URL": env["ECR_REPOSITORY_URL"] + "-gone"}
    result = step(missing, "resolve-digest", SHA)
    assert result.returncode == 1
    assert "does not exist" in result.stderr


def test_resolve_needs_the_repository_url(env: dict[str, str]) -> None:
    result = step({**env, "ECR_REPOSITORY_URL": ""}, "resolve-digest", SHA)
    assert result.returncode == 1
    assert "ECR_REPOSITORY_URL is not set" in result.stderr


def test_release_tag_lands_on_the_same_digest(env: dict[str, str], tmp_path: Path) -> None:
    pushed(env, tmp_path)
    ref = step(env, "resolve-digest", SHA).stdout.strip()
    result = step(env, "tag-release", "v1.2.3", ref)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ref
    assert digest_of(env, "v1.2.3") == digest_of(env, SHA) == ref.split("@")[1]


def test_release_tag_is_idempotent_for_the_same_image(env: dict[str, str], tmp_path: Path) -> None:
    ref = pushed(env, tmp_path)
    assert step(env, "tag-release", "v1.2.3", ref).returncode == 0
    again = step(env, "tag-release", "v1.2.3", ref)
    assert again.returncode == 0, again.stderr
    assert "nothing to do" in again.stderr


def test_release_tag_never_moves_to_another_image(env: dict[str, str], tmp_path: Path) -> None:
    first = pushed(env, tmp_path, sha="a" * 40, content=b"first")
    second = pushed(env, tmp_path, sha="b" * 40, content=b"second")
    assert first != second
    assert step(env, "tag-release", "v1.0.0", first).returncode == 0
    result = step(env, "tag-release", "v1.0.0", second)
    assert result.returncode == 1
    assert "never moved to another image" in result.stderr
    assert digest_of(env, "v1.0.0") == first.split("@")[1]


def test_release_check_passes_a_free_version_and_tags_nothing(
    env: dict[str, str], tmp_path: Path
) -> None:
    ref = pushed(env, tmp_path)
    result = step(env, "check-release", "v1.2.3", ref)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ref
    assert "v1.2.3 is free" in result.stderr
    repo_name = env["ECR_REPOSITORY_URL"].split("/", 1)[1]
    tags = ecr(env).describe_images(repositoryName=repo_name)["imageDetails"][0]["imageTags"]
    assert tags == [SHA]


def test_release_check_passes_a_rerun_of_the_same_release(
    env: dict[str, str], tmp_path: Path
) -> None:
    ref = pushed(env, tmp_path)
    assert step(env, "tag-release", "v1.2.3", ref).returncode == 0
    result = step(env, "check-release", "v1.2.3", ref)
    assert result.returncode == 0, result.stderr
    assert "already names this image" in result.stderr


def test_release_check_refuses_a_version_already_on_another_image(
    env: dict[str, str], tmp_path: Path
) -> None:
    first = pushed(env, tmp_path, sha="a" * 40, content=b"first")
    second = pushed(env, tmp_path, sha="b" * 40, content=b"second")
    assert step(env, "tag-release", "v1.0.0", first).returncode == 0
    result = step(env, "check-release", "v1.0.0", second)
    assert result.returncode == 1
    assert "never moved to another image" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("entry", ["check-release", "tag-release"])
@pytest.mark.parametrize(
    "version", ["1.2.3", "v1.2", "v01.2.3", "latest", "v1.2.3+build", "v1.2.3-"]
)
def test_release_steps_refuse_a_malformed_version(
    env: dict[str, str], tmp_path: Path, entry: str, version: str
) -> None:
    ref = pushed(env, tmp_path)
    result = step(env, entry, version, ref)
    assert result.returncode == 1
    assert "want vMAJOR.MINOR.PATCH[-PRERELEASE]" in result.stderr


def test_release_check_accepts_a_prerelease(env: dict[str, str], tmp_path: Path) -> None:
    ref = pushed(env, tmp_path)
    result = step(env, "check-release", "v2.0.0-rc.1", ref)
    assert result.returncode == 0, result.stderr


def test_release_tag_of_a_missing_image_fails_clearly(env: dict[str, str]) -> None:
    ref = f"{env['ECR_REPOSITORY_URL']}@sha256:{'0' * 64}"
    result = step(env, "tag-release", "v9.9.9", ref)
    assert result.returncode == 1
    assert "nothing to tag v9.9.9" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("v1", "example.com/repo:latest"), "not an image reference by digest"),
        (("v1", "example.com/repo@sha256:abc"), "not an image reference by digest"),
        (("bad tag!", f"example.com/repo@sha256:{'0' * 64}"), "invalid release version"),
    ],
)
def test_release_tag_refuses_malformed_arguments(
    env: dict[str, str], args: tuple[str, str], message: str
) -> None:
    result = step(env, "tag-release", *args)
    assert result.returncode == 1
    assert message in result.stderr


def scan_result(env: dict[str, str], ref: str, status: str, counts: dict[str, int]) -> None:
    """What ECR answers for this image's scan, set through moto's API for scan results."""
    repo_name = env["ECR_REPOSITORY_URL"].split("/", 1)[1]
    response = {
        "registryId": "123456789012",
        "repositoryName": repo_name,
        "imageId": {"imageDigest": ref.split("@", 1)[1]},
        "imageScanStatus": {"status": status, "description": "set by the test"},
        "imageScanFindings": {"findings": [], "findingSeverityCounts": counts},
    }
    request = urllib.request.Request(
        f"{env['AWS_ENDPOINT_URL']}/moto-api/static/ecr/scan-finding-results",
        data=json.dumps({"results": [response], "region": REGION}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status in (200, 201)


@pytest.mark.parametrize(
    ("status", "counts", "message"),
    [
        ("COMPLETE", {"CRITICAL": 2, "HIGH": 1}, "found 2 CRITICAL finding(s)"),
        ("IN_PROGRESS", {}, "is IN_PROGRESS, not COMPLETE"),
    ],
)
def test_release_check_refuses_an_image_whose_scan_is_critical_or_unfinished(
    env: dict[str, str], tmp_path: Path, status: str, counts: dict[str, int], message: str
) -> None:
    """ECR basic scanning reports findingSeverityCounts per image; a release refuses CRITICAL.
    Docs: https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_DescribeImageScanFindings.html
    """
    ref = pushed(env, tmp_path)
    scan_result(env, ref, status, counts)
    result = step(env, "check-release", "v1.2.3", ref)
    assert result.returncode == 1
    assert message in result.stderr
    assert result.stdout == ""


def test_release_check_passes_an_image_with_high_but_no_critical_findings(
    env: dict[str, str], tmp_path: Path
) -> None:
    ref = pushed(env, tmp_path)
    scan_result(env, ref, "COMPLETE", {"HIGH": 3, "MEDIUM": 1})
    result = step(env, "check-release", "v1.2.3", ref)
    assert result.returncode == 0, result.stderr


def test_release_check_refuses_an_unscanned_image(env: dict[str, str], tmp_path: Path) -> None:
    result = step(env, "push-image", SHA, "--archive", str(archive(tmp_path, b"unscanned")))
    assert result.returncode == 0, result.stderr
    check = step(env, "check-release", "v1.2.3", result.stdout.strip())
    assert check.returncode == 1
    assert "has no ECR scan result" in check.stderr

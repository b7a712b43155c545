"""The pipeline's ECR steps: push the built image, resolve a SHA's digest, add a release tag.

Images are immutable: tagged once with the git SHA on main, then only ever referenced by
digest. A release never rebuilds; it resolves the digest the SHA tag names and adds the
version tag to that same manifest.

    python ci/ecr.py push SHA [--archive build/image.tar]   (entry point: ci/push-image)
    python ci/ecr.py resolve SHA                            (entry point: ci/resolve-digest)
    python ci/ecr.py check VERSION REPO@sha256:DIGEST       (entry point: ci/check-release;
                                                             also refuses CRITICAL scan findings)
    python ci/ecr.py tag VERSION REPO@sha256:DIGEST         (entry point: ci/tag-release)

Each prints the image reference `REPO_URL@sha256:...` on stdout; messages go to stderr.
The repository comes from ECR_REPOSITORY_URL (a Terraform output), or from the reference.
AWS_ENDPOINT_URL points every call at another endpoint (moto_server in the tests).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
# ECR tags: up to 128 characters, letters, digits, _ . -; a git SHA and v1.2.3 both fit.
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
# Release versions: vMAJOR.MINOR.PATCH, optionally -PRERELEASE (no +BUILD: ECR tags have no '+').
VERSION_RE = re.compile(
    r"^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z][0-9A-Za-z.-]*)?$"
)
REGION_RE = re.compile(r"\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com")


class StepError(Exception):
    """A failure the pipeline should report in one clear line."""


@dataclass(frozen=True)
class Repository:
    """An ECR repository as the pipeline names it: REGISTRY_HOST/NAME."""

    url: str

    @classmethod
    def parse(cls, url: str) -> Repository:
        url = url.strip().removeprefix("https://").rstrip("/")
        host, _, name = url.partition("/")
        if not host or not name or ":" in name or "@" in name:
            raise StepError(
                f"not an ECR repository URL: {url!r} "
                "(expected ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME, no tag or digest)"
            )
        return cls(url)

    @property
    def host(self) -> str:
        return self.url.partition("/")[0]

    @property
    def name(self) -> str:
        return self.url.partition("/")[2]

    @property
    def registry_id(self) -> str:
        account = self.host.split(".", 1)[0]
        return account if account.isdigit() else ""

    @property
    def region(self) -> str | None:
        match = REGION_RE.search(self.host)
        return match.group(1) if match else None

    def ref(self, digest: str) -> str:
        return f"{self.url}@{digest}"


def parse_ref(ref: str) -> tuple[Repository, str]:
    """Split REPO_URL@sha256:DIGEST; a tag instead of a digest is refused."""
    url, sep, digest = ref.partition("@")
    if not sep or not DIGEST_RE.match(digest):
        raise StepError(f"not an image reference by digest: {ref!r} (want REPO@sha256:<64 hex>)")
    return Repository.parse(url), digest


def check_tag(tag: str, what: str) -> str:
    if not TAG_RE.match(tag):
        raise StepError(f"invalid {what} {tag!r}: letters, digits, '_', '.', '-', at most 128")
    return tag


def repository_from_env() -> Repository:
    url = os.environ.get("ECR_REPOSITORY_URL", "")
    if not url:
        raise StepError("ECR_REPOSITORY_URL is not set (Terraform output ecr_repository_url)")
    return Repository.parse(url)


def ecr_client(repo: Repository) -> Any:
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or repo.region
    if not region:
        raise StepError("set AWS_REGION: the repository URL names no region")
    return boto3.client(
        "ecr", region_name=region, endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None
    )


def _registry(repo: Repository) -> dict[str, str]:
    return {"registryId": repo.registry_id} if repo.registry_id else {}


def digest_for_tag(client: Any, repo: Repository, tag: str) -> str | None:
    """The manifest digest the tag names, or None when no image carries it."""
    try:
        response = client.describe_images(
            repositoryName=repo.name, imageIds=[{"imageTag": tag}], **_registry(repo)
        )
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code == "ImageNotFoundException":
            return None
        if code == "RepositoryNotFoundException":
            raise StepError(f"ECR repository {repo.name!r} does not exist ({repo.url})") from exc
        raise
    details = response.get("imageDetails", [])
    if not details:
        return None
    digest: str = details[0]["imageDigest"]
    return digest


def resolve(repo: Repository, sha: str) -> str:
    """REPO@sha256:... for the image main pushed for this commit; never builds one."""
    check_tag(sha, "commit SHA")
    digest = digest_for_tag(ecr_client(repo), repo, sha)
    if digest is None:
        raise StepError(
            f"no image tagged {sha} in {repo.url}: a release promotes only an image that the "
            "main pipeline built and pushed for that commit (merge it to main first)"
        )
    return repo.ref(digest)


def _authfile(client: Any, repo: Repository, directory: Path) -> Path:
    """A containers-auth.json for the registry, from an ECR token (valid 12 hours)."""
    ids = {"registryIds": [repo.registry_id]} if repo.registry_id else {}
    data = client.get_authorization_token(**ids)
    token = data["authorizationData"][0]["authorizationToken"]  # base64 of "AWS:password"
    if not base64.b64decode(token).startswith(b"AWS:"):
        raise StepError("ECR returned an authorization token in an unexpected form")
    path = directory / "auth.json"
    path.touch(mode=0o600)
    path.write_text(json.dumps({"auths": {repo.host: {"auth": token}}}))
    return path


def push(repo: Repository, sha: str, archive: Path) -> str:
    """Copy the OCI archive the build left to REPO:SHA and return REPO@digest.

    The tag is immutable: when main's pipeline reruns for a commit that already has an
    image, that image is kept (a rebuild is not bit-for-bit identical) and its digest used.
    """
    check_tag(sha, "commit SHA")
    client = ecr_client(repo)
    existing = digest_for_tag(client, repo, sha)
    if existing is not None:
        print(f"{repo.url}:{sha} already exists; keeping {existing}", file=sys.stderr)
        return repo.ref(existing)
    if not archive.is_file():
        raise StepError(f"{archive} not found: run ci/build-image first (it leaves an OCI archive)")
    skopeo = shutil.which("skopeo")
    if skopeo is None:
        raise StepError("skopeo is not installed (Debian/Ubuntu package: skopeo)")
    with tempfile.TemporaryDirectory(prefix="ecr-auth-") as tmp:
        authfile = _authfile(client, repo, Path(tmp))
        subprocess.run(
            [
                skopeo,
                "copy",
                "--quiet",
                "--dest-authfile",
                str(authfile),
                f"oci-archive:{archive}",
                f"docker://{repo.url}:{sha}",
            ],
            check=True,
            stdout=sys.stderr,
        )
    digest = digest_for_tag(client, repo, sha)
    if digest is None:
        raise StepError(f"pushed {repo.url}:{sha} but ECR does not list it")
    return repo.ref(digest)


def release_tag_state(client: Any, repo: Repository, version: str, digest: str) -> bool:
    """Whether VERSION already names `digest` (False: not used yet). Refuses a malformed
    version, and one already on another digest (release tags, like the repository, are
    immutable)."""
    if len(version) > 128 or not VERSION_RE.match(version):  # 128: ECR's tag limit
        raise StepError(
            f"invalid release version {version!r}: "
            "want vMAJOR.MINOR.PATCH[-PRERELEASE], e.g. v1.4.0"
        )
    current = digest_for_tag(client, repo, version)
    if current is not None and current != digest:
        raise StepError(
            f"{repo.url}:{version} already names {current}, not {digest}: "
            "a released version is never moved to another image"
        )
    return current == digest


def refuse_critical_findings(client: Any, repo: Repository, digest: str) -> None:
    """A release never deploys an image whose ECR scan (scan on push) found CRITICAL
    vulnerabilities, or whose scan did not complete."""
    ref = repo.ref(digest)
    try:
        found = client.describe_image_scan_findings(
            **_registry(repo), repositoryName=repo.name, imageId={"imageDigest": digest}
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ScanNotFoundException":
            raise StepError(f"{ref} has no ECR scan result: not released unscanned") from exc
        raise
    status = found["imageScanStatus"]["status"]
    if status != "COMPLETE":
        raise StepError(f"the ECR scan of {ref} is {status}, not COMPLETE: retry when it is")
    counts = found.get("imageScanFindings", {}).get("findingSeverityCounts", {})
    if counts.get("CRITICAL", 0):
        raise StepError(
            f"the ECR scan of {ref} found {counts['CRITICAL']} CRITICAL finding(s): not released"
        )


def check(version: str, ref: str) -> str:
    """Before a release deploys anything: VERSION is well formed and free, or already names
    this very image (a rerun), so the tag at the end cannot fail on it; and the image's scan
    found nothing CRITICAL."""
    repo, digest = parse_ref(ref)
    client = ecr_client(repo)
    refuse_critical_findings(client, repo, digest)
    tagged = release_tag_state(client, repo, version, digest)
    state = "already names this image" if tagged else "is free"
    print(f"{repo.url}:{version} {state}", file=sys.stderr)
    return ref


def tag(version: str, ref: str) -> str:
    """Add VERSION to the manifest REF names. Idempotent for the same digest; the checks of
    `check` first."""
    repo, digest = parse_ref(ref)
    client = ecr_client(repo)
    if release_tag_state(client, repo, version, digest):
        print(f"{repo.url}:{version} already names {digest}; nothing to do", file=sys.stderr)
        return ref
    found = client.batch_get_image(
        repositoryName=repo.name,
        imageIds=[{"imageDigest": digest}],
        acceptedMediaTypes=[
            "application/vnd.oci.image.index.v1+json",
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.docker.distribution.manifest.list.v2+json",
            "application/vnd.docker.distribution.manifest.v2+json",
        ],
        **_registry(repo),
    )
    images = found.get("images", [])
    if not images:
        raise StepError(f"no image {digest} in {repo.url}: nothing to tag {version}")
    image = images[0]
    extra = {}
    if media_type := image.get("imageManifestMediaType"):
        extra["imageManifestMediaType"] = media_type
    client.put_image(
        repositoryName=repo.name,
        imageManifest=image["imageManifest"],
        imageTag=version,
        imageDigest=digest,
        **extra,
        **_registry(repo),
    )
    print(f"tagged {repo.url}@{digest} as {version}", file=sys.stderr)
    return ref


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ci/ecr.py", description=__doc__.splitlines()[0])
    steps = parser.add_subparsers(dest="step", required=True)
    push_cmd = steps.add_parser("push", help="push build/image.tar as ECR_REPOSITORY_URL:SHA")
    push_cmd.add_argument("sha")
    push_cmd.add_argument("--archive", type=Path, default=Path("build/image.tar"))
    resolve_cmd = steps.add_parser("resolve", help="digest reference of ECR_REPOSITORY_URL:SHA")
    resolve_cmd.add_argument("sha")
    for step, text in (
        ("check", "check VERSION can be given to the image REPO@sha256:..."),
        ("tag", "add VERSION to the image REPO@sha256:..."),
    ):
        command = steps.add_parser(step, help=text)
        command.add_argument("version")
        command.add_argument("ref")
    args = parser.parse_args(argv)
    try:
        if args.step == "push":
            print(push(repository_from_env(), args.sha, args.archive))
        elif args.step == "resolve":
            print(resolve(repository_from_env(), args.sha))
        elif args.step == "check":
            print(check(args.version, args.ref))
        else:
            print(tag(args.version, args.ref))
    except StepError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (ClientError, BotoCoreError) as exc:
        print(f"error: AWS call failed: {exc}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as exc:
        print(f"error: skopeo copy failed with exit code {exc.returncode}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

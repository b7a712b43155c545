"""A stand-in for `skopeo copy oci-archive:FILE docker://REPO:TAG` against moto_server.

moto's ECR has no registry (v2) endpoint, so this does what a push leaves behind: an
OCI manifest under the tag, with a layer digest derived from the archive's bytes (two
different archives get two different image digests). It also checks the auth file ci/ecr.py
wrote, and logs each call to $FAKE_SKOPEO_LOG.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import boto3


def main(argv: list[str]) -> int:
    assert argv[0] == "copy", argv
    args = argv[1:]
    authfile = Path(args[args.index("--dest-authfile") + 1])
    source, dest = args[-2], args[-1]
    assert source.startswith("oci-archive:") and dest.startswith("docker://"), args
    host, _, rest = dest.removeprefix("docker://").partition("/")
    name, _, tag = rest.rpartition(":")
    auths = json.loads(authfile.read_text())["auths"]
    assert host in auths and auths[host]["auth"], auths
    layer = hashlib.sha256(Path(source.removeprefix("oci-archive:")).read_bytes()).hexdigest()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": f"sha256:{layer}",
            "size": 2,
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": f"sha256:{layer}",
                "size": 1,
            }
        ],
    }
    client = boto3.client(
        "ecr", region_name=os.environ["AWS_REGION"], endpoint_url=os.environ["AWS_ENDPOINT_URL"]
    )
    client.put_image(
        repositoryName=name,
        imageManifest=json.dumps(manifest),
        imageManifestMediaType=manifest["mediaType"],
        imageTag=tag,
    )
    with open(os.environ["FAKE_SKOPEO_LOG"], "a") as log:
        log.write(" ".join(argv) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

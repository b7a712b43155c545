"""Validate rendered Kubernetes manifests against the schemas, strictly.

    python ci/validate_manifests.py KUBERNETES_VERSION FILE...   (entry point: ci/manifests-check)

Unlike the kubernetes-validate CLI, which only warns, a resource whose apiVersion/kind has
no schema fails here. Prints one line per problem; exit 1 if there was any.
"""

from __future__ import annotations

import sys
from pathlib import Path

import kubernetes_validate
import yaml


def problems(version: str, path: Path) -> list[str]:
    found = []
    for document in yaml.safe_load_all(path.read_text()):
        if not document:
            continue
        name = f"{path.name}: {document.get('kind')}/{document.get('metadata', {}).get('name')}"
        try:
            kubernetes_validate.validate(document, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            found.append(f"{name}: {exc.message}")
        except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.InvalidSchemaError):
            found.append(f"{name}: no schema for {document.get('apiVersion')} in {version}")
    return found


def main(argv: list[str]) -> int:
    version, files = argv[0], [Path(f) for f in argv[1:]]
    if not files:
        print("error: no rendered manifests to validate", file=sys.stderr)
        return 1
    errors = [line for path in files for line in problems(version, path)]
    for line in errors:
        print(f"error: {line}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

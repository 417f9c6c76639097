"""Render a kustomization the way `kubectl apply -k` does, for the part of kustomize our manifests use.

`resources` (files and directories), `components`, `patches` (JSON 6902 operations with a kind/name target),
`namespace` and `images`. Anything else in a kustomization is refused rather than ignored, so a rendering here
never differs quietly from kubectl's; the tests compare the two where kubectl is installed.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

Resource = dict[str, Any]
KNOWN = {"apiVersion", "kind", "resources", "components", "patches", "namespace", "images"}


class KustomizeError(ValueError):
    pass


def load_documents(path: Path) -> list[Resource]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def _kustomization(directory: Path) -> dict[str, Any]:
    path = directory / "kustomization.yaml"
    if not path.exists():
        raise KustomizeError(f"{directory} has no kustomization.yaml")
    documents = load_documents(path)
    if len(documents) != 1:
        raise KustomizeError(f"{path}: one document expected")
    unknown = set(documents[0]) - KNOWN
    if unknown:
        raise KustomizeError(f"{path}: {sorted(unknown)} not supported by this renderer (use kubectl kustomize)")
    return documents[0]


def render(directory: Path) -> list[Resource]:
    directory = directory.resolve()
    spec = _kustomization(directory)
    resources: list[Resource] = []
    for entry in spec.get("resources", []):
        target = directory / entry
        resources += render(target) if target.is_dir() else load_documents(target)
    for entry in spec.get("components", []):
        component = _kustomization(directory / entry)
        if component.get("kind") != "Component":
            raise KustomizeError(f"{entry} is listed under components but is not a Component")
        resources += [r for e in component.get("resources", []) for r in load_documents(directory / entry / e)]
        resources = _patched(resources, component.get("patches", []))
    resources = _patched(resources, spec.get("patches", []))
    if "namespace" in spec:
        for resource in resources:
            resource.setdefault("metadata", {})["namespace"] = spec["namespace"]
    for image in spec.get("images", []):
        _set_image(resources, image)
    return resources


def _matches(resource: Resource, target: dict[str, str]) -> bool:
    if "kind" in target and resource.get("kind") != target["kind"]:
        return False
    name = resource.get("metadata", {}).get("name", "")
    return "name" not in target or re.fullmatch(target["name"], name) is not None


def _patched(resources: list[Resource], patches: list[dict[str, Any]]) -> list[Resource]:
    for patch in patches:
        if set(patch) - {"target", "patch"} or "target" not in patch:
            raise KustomizeError(f"only inline JSON 6902 patches with a target are supported: {patch}")
        operations = yaml.safe_load(patch["patch"])
        if not isinstance(operations, list):
            raise KustomizeError(f"not a JSON 6902 patch (strategic merge is not supported): {patch['patch']}")
        hits = [r for r in resources if _matches(r, patch["target"])]
        if not hits:
            raise KustomizeError(f"patch target {patch['target']} matches nothing")
        for resource in hits:
            for operation in operations:
                apply_operation(resource, operation)
    return resources


def _pointer(path: str) -> list[str]:
    if not path.startswith("/"):
        raise KustomizeError(f"bad JSON pointer {path!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def apply_operation(document: Resource, operation: dict[str, Any]) -> None:
    """One RFC 6902 operation (add, replace, remove) in place."""
    op, parts = operation["op"], _pointer(operation["path"])
    parent: Any = document
    for part in parts[:-1]:
        parent = parent[int(part)] if isinstance(parent, list) else parent[part]
    last = parts[-1]
    value = copy.deepcopy(operation.get("value"))
    if isinstance(parent, list):
        if op == "add":
            parent.insert(len(parent) if last == "-" else int(last), value)
        elif op == "replace":
            parent[int(last)] = value
        elif op == "remove":
            del parent[int(last)]
        else:
            raise KustomizeError(f"operation {op!r} not supported")
        return
    if op == "add":
        parent[last] = value
    elif op == "replace":
        if last not in parent:
            raise KustomizeError(f"replace: {operation['path']} does not exist")
        parent[last] = value
    elif op == "remove":
        del parent[last]
    else:
        raise KustomizeError(f"operation {op!r} not supported")


def _containers(resource: Resource) -> list[dict[str, Any]]:
    spec = resource.get("spec", {})
    pod = spec.get("template", {}).get("spec", {})
    found: list[dict[str, Any]] = pod.get("containers", []) + pod.get("initContainers", [])
    return found


def _set_image(resources: list[Resource], image: dict[str, str]) -> None:
    for resource in resources:
        for container in _containers(resource):
            current = container.get("image", "")
            name, _, tag = current.partition(":") if "@" not in current else (current, "", "")
            if name != image["name"]:
                continue
            new_name = image.get("newName", name)
            new_tag = image.get("newTag", tag)
            container["image"] = f"{new_name}@{image['digest']}" if "digest" in image else (
                f"{new_name}:{new_tag}" if new_tag else new_name
            )  # fmt: skip


def to_yaml(resources: list[Resource]) -> str:
    return "---\n".join(yaml.safe_dump(r, sort_keys=False, width=120) for r in resources)

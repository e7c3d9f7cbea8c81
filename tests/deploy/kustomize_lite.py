"""Render deploy/k8s the way `kustomize build` does, for the subset the base uses.

Used when neither `kubectl` nor `kustomize` is installed. Supports: `resources`
(files), `namespace`, `labels` (pairs, with or without includeSelectors),
`commonLabels`, and `images` (newName/newTag/digest). Anything else in the
kustomization raises, so the fallback can never silently render something different
from the real tool (the tests compare both when kubectl is available).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

SUPPORTED = {"apiVersion", "kind", "resources", "namespace", "labels", "commonLabels", "images"}
_POD_SPEC_PATHS = {
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "Pod": ("spec",),
}
_CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}


def render(directory: Path) -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - SUPPORTED
    if unknown:
        raise NotImplementedError(f"kustomize_lite does not support {sorted(unknown)}")
    docs: list[dict[str, Any]] = []
    for resource in kustomization.get("resources", []):
        path = directory / resource
        if path.is_dir():
            raise NotImplementedError(f"nested kustomization {resource}")
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    docs = [copy.deepcopy(d) for d in docs]
    for doc in docs:
        _apply_namespace(doc, kustomization.get("namespace"))
        for entry in kustomization.get("labels", []):
            _apply_labels(doc, entry.get("pairs", {}), entry.get("includeSelectors", False))
        if kustomization.get("commonLabels"):
            _apply_labels(doc, kustomization["commonLabels"], True)
        for image in kustomization.get("images", []):
            _apply_image(doc, image)
    return docs


def _apply_namespace(doc: dict[str, Any], namespace: str | None) -> None:
    if namespace and doc.get("kind") not in _CLUSTER_SCOPED:
        doc.setdefault("metadata", {})["namespace"] = namespace


def _apply_labels(doc: dict[str, Any], pairs: dict[str, str], selectors: bool) -> None:
    doc.setdefault("metadata", {}).setdefault("labels", {}).update(pairs)
    if not selectors:
        return
    kind = doc.get("kind")
    if kind in _POD_SPEC_PATHS and kind not in ("Pod", "Job", "CronJob"):
        spec = doc["spec"]
        spec.setdefault("selector", {}).setdefault("matchLabels", {}).update(pairs)
        spec["template"].setdefault("metadata", {}).setdefault("labels", {}).update(pairs)
    if kind == "Service":
        doc["spec"].setdefault("selector", {}).update(pairs)


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    path = _POD_SPEC_PATHS.get(doc.get("kind", ""))
    if not path:
        return []
    node: Any = doc
    for key in path:
        node = node.get(key, {})
    return [*node.get("initContainers", []), *node.get("containers", [])]


def _apply_image(doc: dict[str, Any], image: dict[str, str]) -> None:
    for container in _containers(doc):
        ref = container.get("image", "")
        name = ref.split("@", 1)[0]
        if ":" in name.rsplit("/", 1)[-1]:
            name = name.rsplit(":", 1)[0]
        if name != image["name"]:
            continue
        new = image.get("newName", name)
        if image.get("digest"):
            container["image"] = f"{new}@{image['digest']}"
        elif image.get("newTag"):
            container["image"] = f"{new}:{image['newTag']}"
        else:
            container["image"] = new + ref[len(name) :]

"""Reading the deployment files the way their tools would, offline: YAML documents, and the
Kubernetes schemas `kubernetes-validate` ships."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml
from referencing import Registry, Resource

from market_spine_tests.kit.homes import REPO

DEPLOY = REPO / "deploy"
#: The Kubernetes version the manifests are validated for (one `kubernetes-validate` ships).
KUBERNETES = "1.33.0"
#: The id the Kubernetes definitions are referenced by.
KUBERNETES_DEFINITIONS = "https://kubernetes.io/api/_definitions.json"


def documents(path: Path) -> list[dict[str, Any]]:
    """Every YAML document of a file (empty ones dropped)."""
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def manifests() -> list[dict[str, Any]]:
    """Every object of deploy/k8s/."""
    return [d for f in sorted((DEPLOY / "k8s").glob("*.yaml")) for d in documents(f)]


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    """The object of `kind` named `name`; AssertionError naming what is there otherwise."""
    for o in objects:
        if o["kind"] == kind and o["metadata"]["name"] == name:
            return o
    names = sorted(f"{o['kind']}/{o['metadata']['name']}" for o in objects)
    raise AssertionError(f"no {kind}/{name} among {names}")


@cache
def kubernetes_definitions() -> Registry:
    """A schema registry holding the definitions of every Kubernetes type (strict: no unknown
    fields), under their own id (`KUBERNETES_DEFINITIONS`)."""
    root = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    path = root / f"v{KUBERNETES}-local-strict" / "_definitions.json"
    definitions = json.loads(path.read_text(encoding="utf-8"))
    assert definitions["$id"] == KUBERNETES_DEFINITIONS
    return Resource.from_contents(definitions) @ Registry()

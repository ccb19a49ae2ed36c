"""Namespaces as small typed objects: whether one exists, creating it (from a manifest, labels and
all), deleting it. Plain JSON through Kube.fetch; a missing namespace is an answer, not an error."""

from __future__ import annotations

from dataclasses import dataclass, field

from tripgenctl.kube import paths


@dataclass
class Namespace:
    name: str
    phase: str = "Active"
    labels: dict[str, str] = field(default_factory=dict)
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, obj: dict) -> "Namespace":
        meta = obj.get("metadata") or {}
        return cls(meta.get("name", ""), (obj.get("status") or {}).get("phase") or "Active", dict(meta.get("labels") or {}), obj)

    @classmethod
    def get(cls, kube, name: str, missing_ok: bool = False, what: str | None = None) -> "Namespace | None":
        """The namespace; NotFound (or None with missing_ok) when there is none. `what` names
        the read in an error (default "namespace <name>")."""
        obj = kube.fetch("GET", paths.core("namespaces", name=name), what=what or f"namespace {name}", missing_ok=missing_ok)
        return None if obj is None else cls.from_json(obj)

    @classmethod
    def exists(cls, kube, name: str) -> bool:
        return cls.get(kube, name, missing_ok=True) is not None

    @classmethod
    def create(cls, kube, name: str, labels: dict[str, str] | None = None, body: dict | None = None) -> "Namespace":
        """POST the namespace (`body`, e.g. the manifests' Namespace, or one named `name` with
        `labels`); Conflict when it exists already."""
        body = body or {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, **({"labels": labels} if labels else {})}}
        return cls.from_json(kube.fetch("POST", paths.core("namespaces"), body, query={"fieldManager": "tripgenctl"}, what=f"create namespace {name}"))

    @classmethod
    def delete(cls, kube, name: str) -> bool:
        """Ask for deletion (the namespace then terminates in the background); False when there
        was none."""
        return paths.delete(kube, paths.core("namespaces", name=name), f"delete namespace {name}")

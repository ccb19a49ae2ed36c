"""coordination.k8s.io Leases as small typed objects for a lock: read one, create it, take it over,
renew it, release it. Every write carries the resourceVersion the Lease was read at, so of two
writers racing for it one wins and the other gets a typed Conflict (never a silent overwrite);
a Lease deleted under a writer is a NotFound. Plain JSON through Kube.fetch."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Iterator

from tripgenctl.kube import paths

GROUP_VERSION = "coordination.k8s.io/v1"


@dataclass
class Lease:
    name: str
    namespace: str
    holder: str | None
    duration: int | None
    acquire_time: str | None
    renew_time: str | None
    transitions: int
    annotations: dict[str, str]
    resource_version: str | None
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, obj: dict) -> "Lease":
        meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
        duration = spec.get("leaseDurationSeconds")
        return cls(meta.get("name", ""), meta.get("namespace", ""), spec.get("holderIdentity") or None,
                   int(duration) if duration is not None else None, spec.get("acquireTime"), spec.get("renewTime"),
                   int(spec.get("leaseTransitions") or 0), dict(meta.get("annotations") or {}), meta.get("resourceVersion"), obj)

    # ---- paths --------------------------------------------------------------------------------
    @staticmethod
    def collection(namespace: str) -> str:
        return paths.grouped(GROUP_VERSION, "leases", namespace)

    @property
    def path(self) -> str:
        return paths.grouped(GROUP_VERSION, "leases", self.namespace, self.name)

    # ---- reading ------------------------------------------------------------------------------
    @classmethod
    def get(cls, kube, name: str, namespace: str | None = None) -> "Lease | None":
        """The Lease, or None when there is none."""
        ns = namespace or kube.namespace
        obj = kube.fetch("GET", paths.grouped(GROUP_VERSION, "leases", ns, name), what=f"lease {name}", missing_ok=True)
        return None if obj is None else cls.from_json(obj)

    @classmethod
    def list_version(cls, kube, namespace: str | None = None) -> str | None:
        """The resourceVersion of the namespace's Lease list (where a watch starts)."""
        body = kube.fetch("GET", cls.collection(namespace or kube.namespace), what="leases")
        return ((body or {}).get("metadata") or {}).get("resourceVersion") if isinstance(body, dict) else None

    @classmethod
    def watch(cls, kube, namespace: str | None = None, resource_version: str | None = None, timeout_seconds: int = 60,
              stop=None) -> Iterator[tuple[str, "Lease"]]:
        """(event type, Lease) of a watch on the namespace's Leases."""
        for type_, obj in kube.watch_json(cls.collection(namespace or kube.namespace), resource_version=resource_version,
                                          timeout_seconds=timeout_seconds, stop=stop):
            yield type_, cls.from_json(obj)

    # ---- writing ------------------------------------------------------------------------------
    @classmethod
    def create(cls, kube, name: str, holder: str, duration: int, now: str, annotations: dict[str, str] | None = None,
               namespace: str | None = None) -> "Lease":
        """A new Lease held by `holder`; Conflict when someone created it first, NotFound when
        the namespace does not exist."""
        ns = namespace or kube.namespace
        body = {"apiVersion": GROUP_VERSION, "kind": "Lease",
                "metadata": {"name": name, "namespace": ns, "annotations": dict(annotations or {})},
                "spec": {"holderIdentity": holder, "leaseDurationSeconds": duration, "acquireTime": now, "renewTime": now}}
        return cls.from_json(kube.fetch("POST", cls.collection(ns), body, what=f"lease {name}"))

    def take(self, kube, holder: str, duration: int, now: str, annotations: dict[str, str] | None = None) -> "Lease":
        """Take this (free or expired) Lease over: new holder, times and one more transition."""
        spec = {"holderIdentity": holder, "leaseDurationSeconds": duration, "acquireTime": now, "renewTime": now,
                "leaseTransitions": self.transitions + 1}
        return self._put(kube, spec, annotations, replace_spec=True)

    def renew(self, kube, now: str) -> "Lease":
        """The same holder, renewTime `now`."""
        return self._put(kube, {"renewTime": now})

    def release(self, kube, now: str) -> "Lease":
        """No holder any more (renewTime `now`); annotations, such as who held it last, stay."""
        return self._put(kube, {"renewTime": now}, drop_holder=True)

    def _put(self, kube, spec_changes: dict, annotations: dict[str, str] | None = None, replace_spec: bool = False,
             drop_holder: bool = False) -> "Lease":
        """PUT with this Lease's resourceVersion: Conflict when someone wrote it since, NotFound
        when it was deleted."""
        body = copy.deepcopy(self.raw)
        meta = body.setdefault("metadata", {})
        if annotations:
            meta["annotations"] = dict(meta.get("annotations") or {}, **annotations)
        spec = dict(spec_changes) if replace_spec else dict(body.get("spec") or {}, **spec_changes)
        if drop_holder:
            spec.pop("holderIdentity", None)
        body["spec"] = spec
        return Lease.from_json(kube.fetch("PUT", self.path, body, what=f"lease {self.name}"))

"""The door's workload objects: the Deployments and StatefulSets `up`, `down`, `status` and
`secrets rotate` read and scale, as small typed objects built from the API's plain JSON (no SDK
models), with kr8s's `Deployment.scale()` as the model. The REST paths, the content types and
the retry policy of their writes live here, so the ops that use them never spell a path or
compare a status code: they catch the door's typed errors (NotFound, Conflict, ...).

- `scale(n)` goes through the scale subresource, like `kubectl scale` and the HPA (only
  spec.replicas), and is sent again on a 409 (it carries no resourceVersion: safe).
- `annotate(..., expected_resource_version=rv)` is a merge patch guarded by the version: a
  concurrent change is a Conflict raised at once for the caller to re-read and decide.
- `replace(obj)` is a PUT carrying the object's own resourceVersion (a 409 is a Conflict)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from tripgenctl.errors import ToolError
from tripgenctl.kube import retry
from tripgenctl.kube.resources import FIELD_MANAGER, PATCH_TYPES

API_VERSION = "apps/v1"
PLURALS = {"Deployment": "deployments", "StatefulSet": "statefulsets"}  # what up/down scale
KINDS = tuple(PLURALS)
MERGE_PATCH = PATCH_TYPES["merge"]


def path_of(kube, kind: str, name: str | None = None, sub: str | None = None) -> str:
    if kind not in PLURALS:
        raise ToolError(f"{kind} is not a workload kind tripgenctl scales ({', '.join(KINDS)})", 2)
    return kube.api_path(API_VERSION, PLURALS[kind], name, sub=sub)


@dataclass
class Workload:
    kind: str  # Deployment | StatefulSet
    name: str
    namespace: str
    replicas: int  # spec.replicas (the API's default 1 when absent)
    resource_version: str
    annotations: dict[str, str] = field(default_factory=dict)
    raw: dict = field(default_factory=dict, repr=False, compare=False)  # the object as the API sent it
    kube: Any = field(default=None, repr=False, compare=False)

    @classmethod
    def from_json(cls, kube, kind: str, obj: dict) -> "Workload":
        meta = obj.get("metadata") or {}
        spec = obj.get("spec") or {}
        replicas = spec.get("replicas")
        return cls(kind, meta.get("name", ""), meta.get("namespace") or kube.namespace, int(replicas) if replicas is not None else 1,
                   meta.get("resourceVersion", ""), dict(meta.get("annotations") or {}), obj, kube)

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.name}"

    @property
    def path(self) -> str:
        return path_of(self.kube, self.kind, self.name)

    @property
    def selector(self) -> dict:
        return (self.raw.get("spec") or {}).get("selector") or {}

    @property
    def template(self) -> dict:
        """spec.template (the pod template), {} when absent."""
        return (self.raw.get("spec") or {}).get("template") or {}

    # ---- reads -----------------------------------------------------------------------------
    def refresh(self, what: str | None = None, policy: retry.Policy | None = None) -> "Workload | None":
        """The object as it is now; None when it no longer exists."""
        return get(self.kube, self.kind, self.name, missing_ok=True, what=what or f"read {self.ref}", policy=policy)

    # ---- writes ----------------------------------------------------------------------------
    def scale(self, replicas: int, guard: retry.Guard = None, what: str | None = None) -> None:
        """spec.replicas through the scale subresource; retried on 409, 429 and 5xx."""
        body = {"spec": {"replicas": replicas}}
        path = path_of(self.kube, self.kind, self.name, sub="scale")
        label = what or f"scale {self.kind.lower()}/{self.name} to {replicas}"
        retry.run(lambda: self.kube.fetch("PATCH", path, body, content_type=MERGE_PATCH, query={"fieldManager": FIELD_MANAGER}, what=label),
                  retry.IDEMPOTENT, guard)
        self.replicas = replicas

    def patch(self, body: dict, what: str, guard: retry.Guard = None, policy: retry.Policy = retry.WRITE) -> "Workload":
        """A merge patch; the object as the API answered it."""
        answer = retry.run(lambda: self.kube.fetch("PATCH", self.path, body, content_type=MERGE_PATCH, query={"fieldManager": FIELD_MANAGER}, what=what),
                           policy, guard)
        return Workload.from_json(self.kube, self.kind, answer) if isinstance(answer, dict) else self

    def annotate(self, annotations: dict[str, str | None], expected_resource_version: str | None = None, guard: retry.Guard = None,
                 what: str | None = None) -> "Workload":
        """Set (None: remove) metadata annotations in one merge patch. With
        `expected_resource_version` the write happens only on that version: otherwise a
        Conflict (409) is raised at once. Without it a 409 is sent again (nothing is lost)."""
        meta: dict = {"annotations": dict(annotations)}
        if expected_resource_version:
            meta["resourceVersion"] = expected_resource_version
        policy = retry.WRITE if expected_resource_version else retry.IDEMPOTENT
        return self.patch({"metadata": meta}, what or f"annotate {self.ref}", guard, policy)

    def replace(self, obj: dict, what: str | None = None) -> "Workload":
        """PUT the whole object (its metadata.resourceVersion guards it: a 409 is a Conflict)."""
        answer = retry.run(lambda: self.kube.fetch("PUT", self.path, obj, query={"fieldManager": FIELD_MANAGER}, what=what or f"update {self.ref}"))
        return Workload.from_json(self.kube, self.kind, answer) if isinstance(answer, dict) else self


def get(kube, kind: str, name: str, missing_ok: bool = False, what: str | None = None, policy: retry.Policy | None = None) -> Workload | None:
    """One workload; None when it does not exist and `missing_ok` (else NotFound)."""
    label = what or f"get {kind.lower()}/{name}"
    fetch = lambda: kube.fetch("GET", path_of(kube, kind, name), what=label, missing_ok=missing_ok)  # noqa: E731
    obj = retry.run(fetch, policy) if policy is not None else fetch()
    return Workload.from_json(kube, kind, obj) if obj is not None else None


def list_kind(kube, kind: str) -> list[Workload]:
    """Every workload of one kind in the Kube's namespace (one list call)."""
    return [Workload.from_json(kube, kind, o) for o in kube.list_json(path_of(kube, kind))]


def list_all(kube, kinds: tuple[str, ...] = KINDS) -> list[Workload]:
    """Every Deployment and StatefulSet of the namespace (one list call per kind, in parallel)."""
    with ThreadPoolExecutor(max_workers=max(1, len(kinds))) as pool:
        lists = list(pool.map(lambda k: list_kind(kube, k), kinds))
    return [w for ws in lists for w in ws]


def replica_sets(kube) -> list[dict]:
    """The namespace's ReplicaSets, as JSON (a Deployment's revisions)."""
    return kube.list_json(kube.api_path(API_VERSION, "replicasets"))

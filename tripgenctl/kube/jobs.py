"""batch/v1 Jobs as small typed objects: create one, delete one with its pods, read where it
stands (active / succeeded / failed, the Complete or Failed condition) and find its pods. What a
wait needs -- the list path to watch and a way to read each listed Job -- is here too, so the
waiting code outside kube/ never spells a path. Plain JSON through Kube.fetch."""

from __future__ import annotations

from dataclasses import dataclass, field

from tripgenctl.kube import paths
from tripgenctl.kube.pods import Pod

GROUP_VERSION = "batch/v1"


@dataclass
class Job:
    name: str
    namespace: str
    uid: str
    active: int = 0
    succeeded: int = 0
    failed: int = 0
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, obj: dict) -> "Job":
        meta, status = obj.get("metadata") or {}, obj.get("status") or {}
        return cls(meta.get("name", ""), meta.get("namespace", ""), meta.get("uid", ""), int(status.get("active") or 0),
                   int(status.get("succeeded") or 0), int(status.get("failed") or 0), obj)

    @staticmethod
    def collection(kube, namespace: str | None = None) -> str:
        """The Jobs' list path (what ops/waiting.py watches)."""
        return paths.grouped(GROUP_VERSION, "jobs", namespace or kube.namespace)

    # ---- reading ------------------------------------------------------------------------------
    @classmethod
    def get(cls, kube, name: str, namespace: str | None = None, missing_ok: bool = False) -> "Job | None":
        obj = kube.fetch("GET", paths.grouped(GROUP_VERSION, "jobs", namespace or kube.namespace, name), what=f"job/{name}", missing_ok=missing_ok)
        return None if obj is None else cls.from_json(obj)

    def condition(self, type_: str) -> dict | None:
        """The condition `type_` (Complete, Failed, ...) when it is True."""
        return condition(self.raw, type_)

    @property
    def finished(self) -> bool:
        return bool(self.condition("Complete") or self.condition("Failed"))

    def pods(self, kube) -> list[Pod]:
        """This Job's pods (by its controller-uid label), oldest first."""
        return Pod.list(kube, self.namespace or kube.namespace, {"controller-uid": self.uid})

    # ---- writing ------------------------------------------------------------------------------
    @classmethod
    def create(cls, kube, body: dict, field_manager: str = "tripgenctl") -> "Job":
        meta = body["metadata"]
        ns = meta.get("namespace") or kube.namespace
        answer = kube.fetch("POST", cls.collection(kube, ns), body, query={"fieldManager": field_manager}, what=f"create job/{meta['name']}")
        return cls.from_json(answer)

    @classmethod
    def delete(cls, kube, name: str, namespace: str | None = None, propagation: str = "Background") -> bool:
        """Ask for deletion of the Job and (Background) its pods; False when there was none."""
        path = paths.grouped(GROUP_VERSION, "jobs", namespace or kube.namespace, name)
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
        return paths.delete(kube, path, f"delete job/{name}", body)


def condition(obj: dict, type_: str) -> dict | None:
    """The True condition `type_` of any object's status (a Job's Complete / Failed)."""
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == type_ and c.get("status") == "True":
            return c
    return None

"""Restarting a workload the way `kubectl rollout restart` does (a pod-template annotation), waiting
until the new pods are Ready, and undoing it: putting the annotation back makes the template equal
to the previous ReplicaSet's again, so the controller scales the old pods back instead of
starting new ones. Used by `secrets rotate`, which must restart the workloads that read a
Secret and, on failure, return them to the pods that still hold the old value."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from tripgenctl.errors import ToolError
from tripgenctl.kube import objects
from tripgenctl.kube import workloads as kw
from tripgenctl.kube.client import answered
from tripgenctl.kube.errors import Conflict, KubeError, Unavailable
from tripgenctl.ops import workloads as wl

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


@dataclass
class Workload:
    kind: str  # Deployment | StatefulSet
    name: str
    replicas: int
    restarted_at: str | None  # the template annotation before we touched it
    selector: dict
    template_annotations: dict | None = None  # the template's whole annotations map before (None: absent)

    @property
    def ref(self) -> str:
        return f"{self.kind.lower()}/{self.name}"


def references_secret(obj: dict, secret: str) -> bool:
    """Does the pod template read the Secret (env valueFrom, envFrom, volumes, projected)?"""
    pod = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    for c in (pod.get("containers") or []) + (pod.get("initContainers") or []):
        for e in c.get("env") or []:
            if ((e.get("valueFrom") or {}).get("secretKeyRef") or {}).get("name") == secret:
                return True
        for e in c.get("envFrom") or []:
            if (e.get("secretRef") or {}).get("name") == secret:
                return True
    for v in pod.get("volumes") or []:
        if (v.get("secret") or {}).get("secretName") == secret:
            return True
        for src in (v.get("projected") or {}).get("sources") or []:
            if (src.get("secret") or {}).get("name") == secret:
                return True
    return False


def of(obj: dict, kind: str) -> Workload:
    spec = obj.get("spec") or {}
    ann = ((spec.get("template") or {}).get("metadata") or {}).get("annotations") or {}
    meta = (spec.get("template") or {}).get("metadata") or {}
    before = dict(meta["annotations"]) if isinstance(meta.get("annotations"), dict) else None
    return Workload(kind, obj["metadata"]["name"], int(spec.get("replicas", 1)), ann.get(RESTARTED_AT), spec.get("selector") or {}, before)


def _target(kube, w: Workload) -> kw.Workload:
    return kw.Workload(w.kind, w.name, kube.namespace, w.replicas, "", kube=kube)


def set_restarted_at(kube, w: Workload, value: str | None) -> None:
    """Merge-patch the template annotation (None removes it)."""
    body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: value}}}}}
    _target(kube, w).patch(body, what=f"restart {w.ref}")


def restart(kube, w: Workload) -> None:
    # microseconds: two restarts within a second must still differ (or nothing would roll)
    set_restarted_at(kube, w, datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))


def undo(kube, w: Workload, attempts: int = 5) -> None:
    """The template's annotations exactly as they were (an emptied map left behind would be a
    template of its own, and start new pods instead of scaling the old ones back). A guarded PUT,
    read again when the controller's status write got in between (409)."""
    for _ in range(attempts):
        live = kw.get(kube, w.kind, w.name, missing_ok=True)
        if live is None:
            raise ToolError(f"{w.ref} no longer exists")
        obj = live.raw
        meta = obj.setdefault("spec", {}).setdefault("template", {}).setdefault("metadata", {})
        if w.template_annotations is None:
            meta.pop("annotations", None)
        else:
            meta["annotations"] = dict(w.template_annotations)
        obj.get("metadata", {}).pop("managedFields", None)
        try:
            live.replace(obj, what=f"undo the restart of {w.ref}")
            return
        except Conflict:
            continue  # the controller's status write got in between: read again
    raise ToolError(f"undo the restart of {w.ref}: still conflicting after {attempts} attempts")


def _current_revision(kube, w: Workload, obj: dict, pods: list[dict]) -> list[dict]:
    """The pods of the workload's newest revision (an old revision's failing pod, still there
    while an undo scales it away, is no verdict on the rollout). None before the controller has
    seen the current generation."""
    meta, status = obj.get("metadata") or {}, obj.get("status") or {}
    if int(status.get("observedGeneration") or 0) < int(meta.get("generation") or 0):
        return []
    if w.kind == "StatefulSet":
        rev = status.get("updateRevision")
        return [p for p in pods if not rev or (p["metadata"].get("labels") or {}).get("controller-revision-hash") == rev]
    sets = [rs for rs in kw.replica_sets(kube)
            if any(o.get("uid") == meta.get("uid") for o in rs["metadata"].get("ownerReferences") or [])]
    if not sets:
        return []
    newest = max(sets, key=lambda rs: int((rs["metadata"].get("annotations") or {}).get("deployment.kubernetes.io/revision") or 0))
    h = (newest["metadata"].get("labels") or {}).get("pod-template-hash")
    return [p for p in pods if (p["metadata"].get("labels") or {}).get("pod-template-hash") == h]


def _pods(kube, selector: str):
    """The workload's pods as a list answer; None when the API answered with an error (looked
    at again on the next round), raised when it could not be reached."""
    try:
        return objects.list_answer(kube, "v1", "pods", selector=selector)
    except (KubeError, Unavailable) as exc:
        if not answered(exc):
            raise
        return None


def wait_ready(kube, w: Workload, timeout: float, on_tick: Callable[[str], None] | None = None) -> tuple[bool, str]:
    """(rolled out, why not): done when the controller has seen the new template and all its
    replicas are updated and Ready with no old pod left; a failure reason on a not-Ready pod
    (CreateContainerConfigError, CrashLoopBackOff, ImagePullBackOff, ...) ends it at once.
    Follows a watch on the workload's pods between looks, so it reacts to events, and looks
    again at least every 2 seconds (the controller's status lags the pods)."""
    from tripgenctl.ops.deploy import workload_status

    deadline = time.monotonic() + timeout
    selector = ",".join(f"{k}={v}" for k, v in (w.selector.get("matchLabels") or {}).items())
    detail = "not seen"
    while True:
        live = kw.get(kube, w.kind, w.name, missing_ok=True)
        if live is None:
            return False, f"{w.ref} no longer exists"
        obj = live.raw
        obj.setdefault("kind", w.kind)
        st = workload_status(obj)
        body = _pods(kube, selector)
        pods = body.get("items", []) if isinstance(body, dict) else []
        for p in _current_revision(kube, w, obj, pods):
            reason = wl.pod_reason(p)
            if not wl.pod_is_ready(p) and wl.is_failure(reason):
                return False, f"pod {p['metadata']['name']}: {reason}"
        if st.done:
            return True, "rolled out"
        detail = st.detail or detail
        if on_tick:
            on_tick(detail)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False, f"not rolled out after {timeout:g}s ({detail})"
        rv = (body or {}).get("metadata", {}).get("resourceVersion") if isinstance(body, dict) else None
        try:
            for _ in objects.watch(kube, "v1", "pods", selector=selector, resource_version=rv, timeout_seconds=max(1, min(2, int(remaining) + 1))):
                break  # something changed: look again
        except ToolError:
            time.sleep(min(0.5, max(0.0, remaining)))  # a broken watch: look again shortly

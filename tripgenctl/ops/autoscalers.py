"""What inside the namespace would scale a workload back up or start pods at night: KEDA
ScaledObjects (keda #2160: KEDA scales a target `down` set to 0 right back), HPAs and CronJobs.
Held through ops/controls.py's ledger, like the GitOps objects:

- ScaledObject: the annotation autoscaling.keda.sh/paused-replicas "0" (KEDA's own pause,
  which also keeps its HPA quiet); a value a person had set is the one restored.
- HPA: minReplicas recorded and lowered to 1 while asleep (the lowest a stock HPA accepts; an
  HPA whose target is at 0 does not scale it), restored at up; `up` also brings each target
  to at least the HPA's minReplicas, so the two agree. HPAs KEDA made are KEDA's.
- CronJob: spec.suspend true while asleep, restored to its own previous value (a CronJob that
  was already suspended stays suspended). tripgenctl's own schedule jobs are never touched."""

from __future__ import annotations

from tripgenctl.ops import controls
from tripgenctl.ops.controls import Control

KEDA_GROUP = "keda.sh"
PAUSED_REPLICAS = "autoscaling.keda.sh/paused-replicas"
PAUSED_PATH: controls.Path = ("metadata", "annotations", PAUSED_REPLICAS)
MIN_PATH: controls.Path = ("spec", "minReplicas")
SUSPEND_PATH: controls.Path = ("spec", "suspend")
EXCLUDE_ANNOTATION = "tripgenctl.io/exclude"


def _ours(obj: dict) -> bool:
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    return labels.get("app.kubernetes.io/managed-by") == "tripgenctl" or str((meta.get("annotations") or {}).get(EXCLUDE_ANNOTATION, "")).lower() == "true"


def _control(obj: dict, kind: str, group: str, plural: str, api_version: str, family: str, pause: dict, now: str) -> Control:
    meta = obj["metadata"]
    c = Control(kind, meta["namespace"], meta["name"], api_version, group, plural, family, now, pause=pause)
    controls.refresh_from(c, obj)
    return c


def target_of(obj: dict) -> str | None:
    ref = (obj.get("spec") or {}).get("scaleTargetRef") or {}
    return f"{ref.get('kind') or 'Deployment'}/{ref['name']}" if ref.get("name") else None


def find(kube, namespace: str, targets: set[str]) -> tuple[list[Control], list[str], dict[str, tuple[int, int]]]:
    """(controls, problems, HPA bounds per target "Kind/name" -> (min, max) as they will be after
    up). `targets`: the workloads down/up scales; autoscalers of other workloads stay as they are."""
    found: list[Control] = []
    problems: list[str] = []
    bounds: dict[str, tuple[int, int]] = {}
    keda = controls.served_version(kube, KEDA_GROUP)
    if keda:
        api_version = f"{KEDA_GROUP}/{keda}"
        items, why = controls.list_objects(kube, api_version, "scaledobjects", namespace)
        if why:
            problems.append(f"cannot list KEDA scaledobjects: {why}")
        for so in items or []:
            if _ours(so) or target_of(so) not in targets:
                continue
            value = controls.get_path(so, PAUSED_PATH)
            if value == "0" and controls.ledger_of(so) is None:
                continue  # paused at 0 by someone: stays so
            found.append(_control(so, "ScaledObject", KEDA_GROUP, "scaledobjects", api_version, "autoscaler", {PAUSED_PATH: "0"},
                                  f"paused at {value}" if value is not None else "scaling"))
    items, why = controls.list_objects(kube, "autoscaling/v2", "horizontalpodautoscalers", namespace)
    if why:
        problems.append(f"cannot list horizontalpodautoscalers: {why}")
    for hpa in items or []:
        owners = (hpa.get("metadata") or {}).get("ownerReferences") or []
        target = target_of(hpa)
        if _ours(hpa) or target not in targets or any(o.get("kind") == "ScaledObject" for o in owners):
            continue
        spec = hpa.get("spec") or {}
        c = _control(hpa, "HorizontalPodAutoscaler", "autoscaling", "horizontalpodautoscalers", "autoscaling/v2", "autoscaler", {MIN_PATH: 1},
                     f"{spec.get('minReplicas', 1)}..{spec.get('maxReplicas')}")
        found.append(c)
        original = (c.recorded or {}).get(MIN_PATH, spec.get("minReplicas")) if c.recorded is not None else spec.get("minReplicas")
        bounds[target] = (int(original or 1), int(spec.get("maxReplicas") or 0))
    items, why = controls.list_objects(kube, "batch/v1", "cronjobs", namespace)
    if why:
        problems.append(f"cannot list cronjobs: {why}")
    for cj in items or []:
        if _ours(cj):
            continue
        suspended = bool(controls.get_path(cj, SUSPEND_PATH))
        if suspended and controls.ledger_of(cj) is None:
            continue  # already suspended by its owner: nothing to do, and up leaves it so
        found.append(_control(cj, "CronJob", "batch", "cronjobs", "batch/v1", "job", {SUSPEND_PATH: True}, "suspended" if suspended else "scheduling"))
    return found, problems, bounds

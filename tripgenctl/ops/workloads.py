"""What runs in the namespace: every Deployment and StatefulSet with its pods, read in a fixed
number of list calls (namespace, deployments, statefulsets, pods) whatever the number of pods.
Pods are attributed to workloads from their owner references and the workloads' selectors, so no
ReplicaSet list and no call per pod is needed. `status`, `up` and `down` all start from here."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone

from tripgenctl.errors import ToolError
from tripgenctl.kube import objects
from tripgenctl.kube import workloads as kw
from tripgenctl.kube.client import answered
from tripgenctl.kube.errors import Forbidden
from tripgenctl.kube.namespaces import Namespace
from tripgenctl.labels import selector_matches as labels_match
from tripgenctl.timestamps import format_time, parse_time  # parse_time re-exported: ops.lock and tests use it

REPLICAS_ANNOTATION = "tripgenctl.io/replicas"
SCALED_DOWN_ANNOTATION = "tripgenctl.io/scaled-down"
EXCLUDE_ANNOTATION = "tripgenctl.io/exclude"

# waiting/terminated reasons that mean "this pod will not become Ready by itself soon"
FAILURE_REASONS = (
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "ErrImageNeverPull",
    "CrashLoopBackOff",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
    "OOMKilled",
)


@dataclass
class PodInfo:
    name: str
    workload: str  # "Deployment/name", "StatefulSet/name" or "-"
    phase: str
    ready: str  # "1/1"
    is_ready: bool
    restarts: int
    node: str | None
    reason: str | None  # ImagePullBackOff, CrashLoopBackOff, Pending (Unschedulable: ...), Terminating
    age: str
    ready_since: str | None = None  # RFC3339 of the Ready condition's last transition when Ready

    __table__ = ("name", "workload", "phase", "ready", "restarts", "node", "reason", "age")


@dataclass
class WorkloadInfo:
    kind: str
    name: str
    role: str  # "data" (PostgreSQL / Redis) or "app"
    desired: int
    ready: int
    remembered: int | None  # what `up` will restore (None: not recorded, up uses 1)
    scaled_down_by: str | None
    scaled_down_at: str | None
    excluded: bool
    state: str  # Ready, Down, Starting, Stopping, Failing
    since: str | None  # RFC3339 start of the current state
    age: str  # how long it has been in that state
    image: str
    drift: str | None = None
    reasons: list[str] = field(default_factory=list)  # failing pods' reasons
    selector: dict = field(default_factory=dict)
    _resource_version: str = ""  # for rv-guarded writes; not part of the output
    _created: str | None = None  # creationTimestamp: `up` leaves a workload created while asleep alone
    _snapshot: str = ""  # its containers' image/resources/env/command, kept by down (ops/drift.py)

    __table__ = ("kind", "name", "desired", "ready", "remembered", "state", "age", "image", "reasons", "drift")

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass
class NamespaceStatus:
    namespace: str
    context: str
    overall: str  # UP, DOWN, DEGRADED, TRANSITIONING
    summary: str
    workloads: list[WorkloadInfo] = field(default_factory=list)
    pods: list[PodInfo] = field(default_factory=list)
    awake_until: str | None = None  # `tripgenctl wake`: the scheduled down skips until then (RFC3339); "unknown (why)" when unreadable
    cost_this_month: str | None = None  # `tripgenctl cost`'s month so far and projection, one line ("unknown (why)")
    spec_drift: list = field(default_factory=list)  # ops/drift.DriftRow: image/resources/env/command vs manifests or since down, and by whom
    _unknown: dict[str, str] = field(default_factory=dict)  # field -> why it could not be read (not part of the output)
    _unknown_exit: int = 0  # 2: the API could not answer (5xx, 429); 1: it refused (403) or answered oddly

    __sections__ = ("workloads", "pods", "spec_drift")

    @property
    def exit_code(self) -> int:
        """Non-zero when something shown could not be read: a script must not take "unknown"
        for "none" (a 503 on the namespace is not "not kept awake")."""
        return self._unknown_exit if self._unknown else 0

    def unknown_message(self) -> str:
        return "; ".join(f"{name.replace('_', ' ')} is unknown: {why}" for name, why in self._unknown.items())


# ---- reading ---------------------------------------------------------------------------------


def read(kube, data_names: tuple[str, ...] | None = None, manifests: bool = False) -> NamespaceStatus:
    """One consistent-enough picture of the namespace (4 list/get calls, run in parallel).
    Drift beyond replicas: always since down (the snapshot down kept); with `manifests` also
    against the rendered manifests (status)."""
    ns = kube.namespace
    what = f"GET namespace {ns}"
    unreadable, unknown_exit = None, 0
    try:
        found = Namespace.get(kube, ns, missing_ok=True, what=what)
    except ToolError as exc:
        # no answer at all (transport, deadline, credentials) ends the command; an HTTP error
        # answer is "unknown": a 503 on the namespace is not "not kept awake"
        if not answered(exc):
            raise  # (Unavailable carries status 0 when nothing answered)
        ns_obj = {}
        unreadable, unknown_exit = unreadable_reason(what, exc), exc.exit_code
    else:
        if found is None:
            raise ToolError(f'namespace "{ns}" does not exist in context {kube.context_name}', 2)
        ns_obj = found.raw
    with ThreadPoolExecutor(max_workers=3) as pool:
        listed = [pool.submit(kw.list_kind, kube, kind) for kind in ("Deployment", "StatefulSet")]
        pods_future = pool.submit(objects.items, kube, "v1", "pods")
        deployments, statefulsets = ([w.raw for w in f.result()] for f in listed)
        pods = pods_future.result()
    lists = {"deployments": deployments, "statefulsets": statefulsets, "pods": pods}
    if data_names is None:
        data_names = _configured_data_names(kube.config)
    result = build(ns, lists["deployments"], lists["statefulsets"], lists["pods"], data_names, now=datetime.now(timezone.utc))
    result.context = kube.context_name
    objs = [("Deployment", d) for d in lists["deployments"]] + [("StatefulSet", o) for o in lists["statefulsets"]]
    result.spec_drift = _spec_drift(objs, ns, manifests, kube.config)
    if unreadable is None:
        result.awake_until = _awake_until(ns_obj)
    else:  # unknown is not none: the wake annotation may well be there
        result.awake_until = f"unknown ({unreadable})"
        result._unknown["awake_until"] = unreadable
        result._unknown_exit = unknown_exit or 1
    return result


def _spec_drift(objs: list[tuple[str, dict]], namespace: str, manifests: bool, cfg) -> list:
    from tripgenctl.ops import drift as spec_drift

    rows = spec_drift.since_down(objs)
    if manifests:
        try:
            from tripgenctl import manifests as m

            rendered = m.render(namespace, cfg.profile, config=cfg)
        except (ToolError, OSError, ValueError):
            rendered = []  # no manifests to compare with: nothing to say
        rows += spec_drift.against_manifests(objs, rendered)
    return rows


def unreadable_reason(what: str, exc: ToolError) -> str:
    """`what`: 503 ServiceUnavailable: <the API's message> (the error answer's Status reason and
    message, as the door's typed error carries them)."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        reason, message = body.get("reason") or "", body.get("message") or ""
    else:
        reason, message = "", str(body or "")[:200]
    if isinstance(exc, Forbidden):
        return f"{what}: forbidden (403): {message}" if message else f"{what}: forbidden (403)"
    head = f"{getattr(exc, 'status', '')} {reason}".strip()
    return f"{what}: {head}: {message}" if message else f"{what}: {head}"


def _awake_until(ns_obj) -> str | None:
    """Shown only while it still matters (a past wake is history, not state)."""
    from tripgenctl.ops.schedule import AWAKE_ANNOTATION, parse_awake

    value = (((ns_obj or {}).get("metadata") or {}).get("annotations") or {}).get(AWAKE_ANNOTATION) if isinstance(ns_obj, dict) else None
    until = parse_awake(value)
    return value if until is not None and until > datetime.now(timezone.utc) else None


def _configured_data_names(cfg) -> tuple[str, ...]:
    w = cfg.workloads
    return (w.postgres, w.redis)


def build(namespace: str, deployments: list[dict], statefulsets: list[dict], pods: list[dict], data_names: tuple[str, ...], now: datetime) -> NamespaceStatus:
    """Pure: list results -> typed status (unit-testable without a cluster)."""
    objs = [("Deployment", d) for d in deployments] + [("StatefulSet", s) for s in statefulsets]
    by_ref: dict[str, list[dict]] = {f"{k}/{o['metadata']['name']}": [] for k, o in objs}
    pod_owner: dict[str, str] = {}
    for pod in pods:
        ref = owner_of(pod, objs)
        pod_owner[pod["metadata"]["name"]] = ref or "-"
        if ref:
            by_ref[ref].append(pod)
    workloads = [workload_info(kind, o, by_ref[f"{kind}/{o['metadata']['name']}"], data_names, now) for kind, o in objs]
    workloads.sort(key=lambda w: (w.role != "data", w.kind, w.name))
    pod_rows = sorted((pod_info(p, pod_owner[p["metadata"]["name"]], now) for p in pods), key=lambda p: (p.workload, p.name))
    overall, summary = overall_state(workloads)
    return NamespaceStatus(namespace=namespace, context="", overall=overall, summary=summary, workloads=workloads, pods=pod_rows)


def owner_of(pod: dict, objs: list[tuple[str, dict]]) -> str | None:
    """The workload a pod belongs to: owner references first (StatefulSet directly; a
    ReplicaSet `<deployment>-<pod-template-hash>`), else the first selector that matches."""
    names = {(k, o["metadata"]["name"]) for k, o in objs}
    labels = pod["metadata"].get("labels") or {}
    for ref in pod["metadata"].get("ownerReferences") or []:
        if ref.get("kind") == "StatefulSet" and ("StatefulSet", ref.get("name")) in names:
            return f"StatefulSet/{ref['name']}"
        if ref.get("kind") == "ReplicaSet":
            rs = ref.get("name", "")
            h = labels.get("pod-template-hash")
            base = rs[: -len(h) - 1] if h and rs.endswith("-" + h) else rs.rsplit("-", 1)[0]
            if ("Deployment", base) in names:
                return f"Deployment/{base}"
    for kind, o in objs:
        sel = (o.get("spec") or {}).get("selector") or {}
        if sel and selector_matches(sel, labels):
            return f"{kind}/{o['metadata']['name']}"
    return None


def selector_matches(selector: dict, labels: dict) -> bool:
    """An empty selector claims no pod here (it would claim them all)."""
    return labels_match(selector, labels, empty_matches=False)


def pod_is_ready(pod: dict) -> bool:
    if pod["metadata"].get("deletionTimestamp"):
        return False
    conds = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


def pod_reason(pod: dict) -> str | None:
    """Why a pod is not (yet) serving, in kubectl's words."""
    if pod["metadata"].get("deletionTimestamp"):
        return "Terminating"
    status = pod.get("status") or {}
    for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        state = cs.get("state") or {}
        waiting = state.get("waiting")
        if waiting and waiting.get("reason") and waiting["reason"] not in ("ContainerCreating", "PodInitializing"):
            return waiting["reason"]
        term = state.get("terminated")
        if term and term.get("reason") and term["reason"] != "Completed":
            return term["reason"]
        last = (cs.get("lastState") or {}).get("terminated")
        if waiting and last and last.get("reason") == "OOMKilled":
            return "OOMKilled"
    if status.get("phase") in (None, "Pending"):
        for c in status.get("conditions") or []:
            if c.get("type") == "PodScheduled" and c.get("status") == "False":
                detail = c.get("reason") or "Unschedulable"
                msg = c.get("message")
                return f"Pending ({detail}: {msg})" if msg else f"Pending ({detail})"
        return "Pending"
    return None


def is_failure(reason: str | None) -> bool:
    return bool(reason) and any(reason.startswith(r) for r in FAILURE_REASONS)  # type: ignore[union-attr]


def pod_info(pod: dict, workload: str, now: datetime) -> PodInfo:
    status = pod.get("status") or {}
    cstatuses = status.get("containerStatuses") or []
    containers = (pod.get("spec") or {}).get("containers") or []
    ready_n = sum(1 for c in cstatuses if c.get("ready"))
    ready_since = None
    for c in status.get("conditions") or []:
        if c.get("type") == "Ready" and c.get("status") == "True":
            ready_since = c.get("lastTransitionTime")
    is_ready = pod_is_ready(pod)
    return PodInfo(
        name=pod["metadata"]["name"],
        workload=workload,
        phase=status.get("phase") or "Pending",
        ready=f"{ready_n}/{len(containers)}",
        is_ready=is_ready,
        restarts=sum(int(c.get("restartCount") or 0) for c in cstatuses),
        node=(pod.get("spec") or {}).get("nodeName"),
        reason=None if is_ready else pod_reason(pod),
        age=human_age(pod["metadata"].get("creationTimestamp"), now),
        ready_since=ready_since if is_ready else None,
    )


def remembered_of(annotations: dict) -> int | None:
    value = annotations.get(REPLICAS_ANNOTATION)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def scaled_down_of(annotations: dict) -> dict:
    try:
        data = json.loads(annotations.get(SCALED_DOWN_ANNOTATION) or "{}")
        return data if isinstance(data, dict) else {}
    except ValueError:
        return {}


def workload_info(kind: str, obj: dict, pods: list[dict], data_names: tuple[str, ...], now: datetime) -> WorkloadInfo:
    meta = obj["metadata"]
    ann = meta.get("annotations") or {}
    spec = obj.get("spec") or {}
    desired = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    ready_pods = [p for p in live if pod_is_ready(p)]
    reasons = sorted({r for p in pods if (r := pod_reason(p)) and is_failure(r)})
    remembered = remembered_of(ann)
    down = scaled_down_of(ann)
    if desired == 0:
        state = "Down" if not pods else "Stopping"
    elif reasons:
        state = "Failing"
    elif len(ready_pods) >= desired and len(pods) <= desired:
        state = "Ready"
    elif len(ready_pods) >= desired:
        state = "Scaling"  # extra (terminating) pods still around
    else:
        state = "Starting"
    if state in ("Down", "Stopping") and down.get("at"):
        since = down["at"]
    elif state == "Ready" and ready_pods:
        since = max((c.get("lastTransitionTime") or "" for p in ready_pods for c in (p.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"), default="") or None
    else:
        stamps = [c.get("lastTransitionTime") for c in (obj.get("status") or {}).get("conditions") or [] if c.get("lastTransitionTime")]
        stamps += [p["metadata"].get("creationTimestamp") for p in pods if p["metadata"].get("creationTimestamp")]
        since = max(stamps) if stamps else meta.get("creationTimestamp")
    drift = None
    if remembered is not None and (down or desired == 0) and desired not in (0, remembered):
        drift = f"scaled to {desired} by hand while down (remembered {remembered})"
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    return WorkloadInfo(
        kind=kind,
        name=meta["name"],
        role="data" if meta["name"] in data_names else "app",
        desired=desired,
        ready=len(ready_pods),
        remembered=remembered,
        scaled_down_by=down.get("by"),
        scaled_down_at=down.get("at"),
        excluded=str(ann.get(EXCLUDE_ANNOTATION, "")).lower() == "true",
        state=state,
        since=since,
        age=human_age(since, now),
        image=", ".join(c.get("image", "") for c in containers),
        drift=drift,
        reasons=reasons,
        selector=spec.get("selector") or {},
        _resource_version=meta.get("resourceVersion", ""),
        _created=meta.get("creationTimestamp"),
        _snapshot=drift_snapshot(obj),
    )


def drift_snapshot(obj: dict) -> str:
    from tripgenctl.ops import drift as spec_drift

    return spec_drift.snapshot_text(obj)


def overall_state(workloads: list[WorkloadInfo]) -> tuple[str, str]:
    """UP: everything ready; DOWN: every application at 0 (data may run); TRANSITIONING: pods on
    their way; DEGRADED: something failing, or a mix of up and down applications."""
    if not workloads:
        return "DOWN", "no workloads"
    states = [w.state for w in workloads]
    counts = ", ".join(f"{states.count(s)} {s.lower()}" for s in ("Ready", "Starting", "Scaling", "Stopping", "Failing", "Down") if s in states)
    apps = [w for w in workloads if w.role == "app"]
    if "Failing" in states:
        return "DEGRADED", counts
    if any(s in ("Starting", "Stopping", "Scaling") for s in states):
        return "TRANSITIONING", counts
    if all(s == "Ready" for s in states):
        return "UP", counts
    if apps and all(w.state == "Down" for w in apps):
        return "DOWN", counts
    if not apps and all(s == "Down" for s in states):
        return "DOWN", counts
    return "DEGRADED", counts


# ---- time -------------------------------------------------------------------------------------


def human_age(value: str | None, now: datetime) -> str:
    """kubectl's compact age: 45s, 12m, 3h5m, 2d4h."""
    t = parse_time(value)
    if t is None:
        return "-"
    s = max(0, int((now - t).total_seconds()))
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 60:
        return f"{m}m"
    h, m = divmod(m, 60)
    if h < 24:
        return f"{h}h{m}m" if m and h < 10 else f"{h}h"
    d, h = divmod(h, 24)
    return f"{d}d{h}h" if h and d < 10 else f"{d}d"


def rfc3339(dt: datetime | None = None) -> str:
    return format_time(dt or datetime.now(timezone.utc))

"""Waiting on the cluster by watching it: the door's watch_list (kube/watching.py) lists once,
then follows the watch from that resourceVersion and re-evaluates on every event, re-listing
when the server ends the watch or the version expires (410); here is what "done" means. Nothing
here sleeps to poll. Other commands (deploy, data init, restore) reuse these helpers for "pods
Ready", "a pod condition" and "gone"."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from tripgenctl.errors import ProblemFound
from tripgenctl.kube.pods import Pod
from tripgenctl.kube.watching import watch_list
from tripgenctl.ops import workloads as wl


@dataclass
class Target:
    """A workload to wait for: its pods are found with the selector / owner references."""

    kind: str
    name: str
    replicas: int
    selector: dict = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass
class Readiness:
    """Where one workload's pods stand in a wait (ready / gone, or why not). Not a command's
    result: the run's outcome is ops/updown.Outcome, which carries the exit code."""

    ref: str
    ok: bool
    ready: int
    wanted: int
    reason: str | None = None  # why not ok (ImagePullBackOff, Pending (...), timed out)
    ready_at: str | None = None  # latest Ready transition of its pods when ok


def pods_path(kube) -> str:
    """The namespace's pod collection, as the door names it for a watch."""
    return Pod.collection(kube)


def pods_of(target: Target, pods: dict[str, dict]) -> list[dict]:
    objs = [(target.kind, {"metadata": {"name": target.name}, "spec": {"selector": target.selector}})]
    return [p for p in pods.values() if wl.owner_of(p, objs) == target.ref]


def evaluate(target: Target, pods: dict[str, dict]) -> Readiness:
    """Where one workload stands: ok when `replicas` pods are Ready (none terminating beyond
    that); a failure reason as soon as one of its pods reports one."""
    mine = pods_of(target, pods)
    live = [p for p in mine if not p["metadata"].get("deletionTimestamp")]
    ready = [p for p in live if wl.pod_is_ready(p)]
    if target.replicas == 0:
        return Readiness(target.ref, not mine, 0, 0, None if not mine else f"{len(mine)} pod(s) still running")
    reasons = sorted({r for p in live if (r := wl.pod_reason(p)) and wl.is_failure(r)})
    if len(ready) >= target.replicas and len(mine) <= target.replicas:  # surplus pods gone too
        stamps = [c.get("lastTransitionTime") or "" for p in ready for c in (p.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"]
        return Readiness(target.ref, True, len(ready), target.replicas, None, max(stamps) if stamps else None)
    if reasons:
        return Readiness(target.ref, False, len(ready), target.replicas, ", ".join(reasons))
    pending = sorted({r for p in live if (r := wl.pod_reason(p))})
    if len(ready) >= target.replicas:
        reason = f"{len(mine) - target.replicas} surplus pod(s) stopping"
    elif not live:
        reason = "no pods created yet"
    else:
        reason = ", ".join(pending) if pending else "not Ready yet"
    return Readiness(target.ref, False, len(ready), target.replicas, reason)


def wait_workloads(
    kube,
    targets: list[Target],
    timeout: float,
    fail_fast: bool = True,
    on_update: Callable[[Readiness], None] | None = None,
) -> dict[str, Readiness]:
    """Wait until every target has `replicas` Ready pods (or none, for replicas 0). With
    fail_fast a target whose pods report a failure reason (ImagePullBackOff, CrashLoopBackOff,
    ...) is settled as failed at once instead of burning the whole timeout; the others go on."""
    if not targets:
        return {}
    settled: dict[str, Readiness] = {}
    latest: dict[str, Readiness] = {}
    shown: dict[str, tuple] = {}

    def check(pods: dict[str, dict]) -> bool:
        for t in targets:
            if t.ref in settled:
                continue
            o = evaluate(t, pods)
            latest[t.ref] = o
            key = (o.ok, o.ready, o.reason)
            if on_update and shown.get(t.ref) != key:
                shown[t.ref] = key
                on_update(o)
            if o.ok or (fail_fast and o.reason and wl.is_failure(o.reason)):
                settled[t.ref] = o
        return len(settled) == len(targets)

    watch_list(kube, pods_path(kube), check, timeout)
    result = {}
    for t in targets:
        o = settled.get(t.ref) or latest.get(t.ref) or Readiness(t.ref, False, 0, t.replicas, "no pods")
        if not o.ok and t.ref not in settled:
            o = Readiness(o.ref, False, o.ready, o.wanted, f"timed out after {int(timeout)}s: {o.reason}" if o.reason else f"timed out after {int(timeout)}s")
            if on_update:
                on_update(o)
        result[t.ref] = o
    return result


def wait_gone(kube, targets: list[Target], timeout: float, on_update: Callable[[Readiness], None] | None = None) -> dict[str, Readiness]:
    """Wait until the targets have no pods at all (terminating ones included)."""
    return wait_workloads(kube, [Target(t.kind, t.name, 0, t.selector) for t in targets], timeout, fail_fast=False, on_update=on_update)


def wait_pod_condition(kube, pod: str, condition: str = "Ready", timeout: float = 120, status: str = "True") -> dict | None:
    """The pod once its condition has `status`; None on timeout. A pod that is deleted or
    fails (phase Failed) while waiting ends the wait early with a ToolError."""
    found: dict = {}

    def check(pods: dict[str, dict]) -> bool:
        p = pods.get(pod)
        if p is None:
            return False
        if (p.get("status") or {}).get("phase") == "Failed":
            found["failed"] = wl.pod_reason(p) or "Failed"
            return True  # raised outside the watch loop (which treats ToolErrors as a broken watch)
        for c in (p.get("status") or {}).get("conditions") or []:
            if c.get("type") == condition and c.get("status") == status:
                found["pod"] = p
                return True
        return False

    ok = watch_list(kube, pods_path(kube), check, timeout)
    if "failed" in found:
        raise ProblemFound(f"pod {pod} failed: {found['failed']}")
    return found.get("pod") if ok else None


def wait_deleted(kube, list_path: str, name: str, timeout: float = 120) -> bool:
    """True once object `name` of the collection at list_path no longer exists."""
    return watch_list(kube, list_path, lambda items: name not in items, timeout)

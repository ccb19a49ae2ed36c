"""Waiting on the cluster by watching it: list once, then follow the watch from that
resourceVersion and re-evaluate on every event, re-listing when the server ends the watch or the
version expires (410). Nothing here sleeps to poll. Other commands (deploy, data init, restore)
reuse these helpers for "pods Ready", "a pod condition" and "gone"."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

from tripgenctl.errors import ProblemFound, ToolError
from tripgenctl.kube.client import answered
from tripgenctl.kube.errors import KubeError, NotFound, Unavailable
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


def watch_list(kube, list_path: str, check: Callable[[dict[str, dict]], bool], timeout: float) -> bool:
    """Call check(objects by name) after the initial list and after every watch event; True as
    soon as it returns True, False when `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    transient = 0
    while True:
        body = _list(kube, list_path)
        items = {o["metadata"]["name"]: o for o in body.get("items") or []}
        rv = (body.get("metadata") or {}).get("resourceVersion")
        if check(items):
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        try:
            for type_, obj in kube.watch_json(list_path, resource_version=rv, timeout_seconds=max(1, math.ceil(remaining))):
                if type_ == "ERROR":
                    break  # 410 Gone and friends: list again
                name = (obj.get("metadata") or {}).get("name")
                if not name:
                    continue
                if type_ == "DELETED":
                    items.pop(name, None)
                else:
                    items[name] = obj
                if check(items):
                    return True
                if time.monotonic() >= deadline:
                    return False
            transient = 0
        except ToolError as exc:
            if exc.exit_code == 2 and transient >= 3:
                raise
            transient += 1
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(0.2 * 2**transient, 2.0))  # back-off before re-listing after a broken watch
        if time.monotonic() >= deadline:
            return check(items)


def _list(kube, list_path: str) -> dict:
    """The list a watch starts from; a missing collection means a missing namespace (exit 2)."""
    try:
        body = kube.fetch("GET", list_path, what=list_path)
    except NotFound:
        raise ToolError(f"{list_path}: not found (does the namespace exist?)", 2) from None
    except (KubeError, Unavailable) as exc:
        if not answered(exc):
            raise
        raise ProblemFound(f"GET {list_path}: HTTP {exc.status}") from None
    if not isinstance(body, dict):
        raise ProblemFound(f"GET {list_path}: HTTP 200 (not a list)")
    return body


def pods_path(kube) -> str:
    return kube.api_path("v1", "pods")


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

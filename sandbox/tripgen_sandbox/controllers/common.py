"""Helpers every controller shares: owner references, pod state as the real controllers judge
it, conditions, name suffixes and pod creation from a template (with the API server's defaulting,
because controllers write to the store directly instead of going through the REST layer)."""

from __future__ import annotations

import copy
import hashlib
import json
import secrets
from datetime import datetime, timezone
from typing import Iterable

from tripgen_sandbox.apierrors import ApiError
from tripgen_sandbox.store import now_iso
from tripgenctl.timestamps import format_time as fmt_time, parse_time  # noqa: F401  (re-exported to the controllers)

# the alphabet of k8s.io/apimachinery/pkg/util/rand.SafeEncodeString (no vowels, no 0/1/3)
SAFE = "bcdfghjklmnpqrstvwxz2456789"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def random_suffix(n: int = 5) -> str:
    return "".join(secrets.choice(SAFE) for _ in range(n))


def safe_hash(obj) -> str:
    """A stable short hash in the safe alphabet, like pod-template-hash values ("7d9c8f6b5")."""
    digest = int.from_bytes(hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).digest()[:8], "big")
    out = []
    for _ in range(10):
        digest, r = divmod(digest, len(SAFE))
        out.append(SAFE[r])
    return "".join(out)


def owner_ref(obj: dict) -> dict:
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def controller_ref(obj: dict) -> dict | None:
    for ref in obj.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref
    return None


def owned_by(obj: dict, uid: str) -> bool:
    ref = controller_ref(obj)
    return ref is not None and ref.get("uid") == uid


def condition(obj: dict, type_: str) -> dict | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == type_:
            return c
    return None


def pod_ready(pod: dict) -> bool:
    c = condition(pod, "Ready")
    return bool(c) and c.get("status") == "True"


def pod_available(pod: dict, min_ready_seconds: int, now: datetime) -> bool:
    """Ready for at least minReadySeconds (what 'available' means to Deployments/StatefulSets)."""
    if not pod_ready(pod):
        return False
    if not min_ready_seconds:
        return True
    since = parse_time((condition(pod, "Ready") or {}).get("lastTransitionTime"))
    return since is None or (now - since).total_seconds() >= min_ready_seconds


def ready_wait(pod: dict, min_ready_seconds: int, now: datetime) -> float | None:
    """Seconds until a Ready pod becomes available, or None when that is not pending."""
    if not min_ready_seconds or not pod_ready(pod):
        return None
    since = parse_time((condition(pod, "Ready") or {}).get("lastTransitionTime"))
    if since is None:
        return None
    left = min_ready_seconds - (now - since).total_seconds()
    return left + 0.1 if left > 0 else None


def phase(pod: dict) -> str:
    return (pod.get("status") or {}).get("phase") or "Pending"


def terminal(pod: dict) -> bool:
    return phase(pod) in ("Succeeded", "Failed")


def deleting(obj: dict) -> bool:
    return bool(obj["metadata"].get("deletionTimestamp"))


def active(pod: dict) -> bool:
    """controller.FilterActivePods: not terminal and not being deleted."""
    return not deleting(pod) and not terminal(pod)


def set_condition(conditions: list | None, type_: str, status: str, reason: str, message: str,
                  now: str | None = None, update_time: bool = False, refresh: bool = False) -> list:
    """Set one condition, keeping lastTransitionTime unless the status flips (as the API
    conventions require). update_time adds lastUpdateTime (Deployment conditions have it);
    refresh bumps lastUpdateTime even when nothing changed (Deployment progress)."""
    now = now or now_iso()
    out = [dict(c) for c in conditions or []]
    for c in out:
        if c.get("type") == type_:
            changed = c.get("status") != status or c.get("reason") != reason or c.get("message") != message
            if c.get("status") != status:
                c["lastTransitionTime"] = now
            if update_time and (changed or refresh):
                c["lastUpdateTime"] = now
            c.update(status=status, reason=reason, message=message)
            return out
    new = {"type": type_, "status": status}
    if update_time:
        new["lastUpdateTime"] = now
    new.update(lastTransitionTime=now, reason=reason, message=message)
    out.append(new)
    return out


def owned(store, key: str, namespace: str, uid: str) -> list[dict]:
    return [o for o in store.iter(key, namespace) if owned_by(o, uid)]


def new_pod(owner: dict, template: dict, name: str | None = None, generate_name: str | None = None,
            labels: dict | None = None, annotations: dict | None = None) -> dict:
    """A Pod object from a pod template, owned by `owner`, defaulted and admitted like the API
    server does (apply_defaults runs the admission defaults too)."""
    from tripgen_sandbox.apiserver.defaults import apply_defaults

    tpl = copy.deepcopy(template or {})
    meta = tpl.get("metadata") or {}
    meta.pop("creationTimestamp", None)
    meta["namespace"] = owner["metadata"]["namespace"]
    if name:
        meta["name"] = name
    else:
        meta["generateName"] = generate_name
        meta["name"] = generate_name + random_suffix()
    meta["labels"] = {**(meta.get("labels") or {}), **(labels or {})}
    if annotations:
        meta["annotations"] = {**(meta.get("annotations") or {}), **annotations}
    meta["ownerReferences"] = [owner_ref(owner)]
    spec = tpl.get("spec") or {}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": {"phase": "Pending"}}
    apply_defaults("Pod", pod)
    return pod


def create_pod(store, owner: dict, pod: dict, component: str) -> dict | None:
    """Create the pod and record the owner's SuccessfulCreate / FailedCreate event."""
    kind, owner_name = owner["kind"], owner["metadata"]["name"]
    name = pod["metadata"]["name"]
    try:
        created = store.create("pods", pod)
    except ApiError as exc:
        if exc.code == 409:
            return None
        store.record_event(owner, "FailedCreate", f"Error creating: {exc.message}", "Warning", component)
        return None
    if kind == "StatefulSet":
        msg = f"create Pod {name} in StatefulSet {owner_name} successful"
    else:
        msg = f"Created pod: {name}"
    store.record_event(owner, "SuccessfulCreate", msg, "Normal", component)
    return created


def delete_pod(store, owner: dict, pod: dict, component: str) -> None:
    name = pod["metadata"]["name"]
    try:
        store.delete("pods", pod["metadata"]["namespace"], name)
    except ApiError:
        return
    if owner["kind"] == "StatefulSet":
        msg = f"delete Pod {name} in StatefulSet {owner['metadata']['name']} successful"
    else:
        msg = f"Deleted pod: {name}"
    store.record_event(owner, "SuccessfulDelete", msg, "Normal", component)


def set_status(store, key: str, obj: dict, status: dict) -> None:
    """Write .status only when it differs (no-op writes would wake every watcher)."""
    if (obj.get("status") or {}) == status:
        return
    meta = obj["metadata"]
    store.mutate(key, meta.get("namespace"), meta["name"], lambda o: o.update(status=status), subresource="status")


def drop_empty(status: dict, keep: Iterable[str] = ()) -> dict:
    """omitempty: zero counts are absent from real status objects."""
    keep = set(keep)
    return {k: v for k, v in status.items() if k in keep or v not in (0, None, [], {}, "")}

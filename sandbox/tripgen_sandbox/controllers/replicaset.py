"""replicaset-controller: keep spec.replicas active pods (not terminal, not being deleted)
owned by each ReplicaSet, and report replicas / fullyLabeledReplicas / readyReplicas /
availableReplicas / observedGeneration. Surplus pods go in the order the real controller picks:
unscheduled, then pending, then not ready, then the newest."""

from __future__ import annotations

from tripgen_sandbox.controllers.common import (
    active, controller_ref, create_pod, delete_pod, drop_empty, new_pod, owned, phase, pod_available, pod_ready, ready_wait,
    set_status,
)
from tripgen_sandbox.controllers.manager import Controller
from tripgen_sandbox.selectors import match_label_selector_obj

COMPONENT = "replicaset-controller"
BURST = 500  # slow-start batches are not needed at sandbox scale


def _delete_rank(pod: dict):
    spec = pod.get("spec") or {}
    return (
        bool(spec.get("nodeName")),  # unassigned first
        {"Pending": 0, "Unknown": 1, "Running": 2}.get(phase(pod), 2),
        pod_ready(pod),
        # newer pods first: reverse order of creation
        "".join(chr(0x10FFFF - ord(ch)) for ch in pod["metadata"].get("creationTimestamp", "")),
    )


class ReplicaSetController(Controller):
    name = "replicasets"
    primary = "replicasets.apps"
    watches = ("pods",)
    owner_kind = "ReplicaSet"

    def keys_for(self, type_, key, obj):
        if key == "pods":
            ref = controller_ref(obj)
            if ref and ref.get("kind") == self.owner_kind:
                yield (obj["metadata"]["namespace"], ref["name"])
        else:
            yield from super().keys_for(type_, key, obj)

    def reconcile(self, key) -> float | None:
        rs = self.get(key)
        if rs is None or rs["metadata"].get("deletionTimestamp"):
            return None
        ns = key[0]
        meta, spec = rs["metadata"], rs.get("spec") or {}
        pods = [p for p in owned(self.store, "pods", ns, meta["uid"]) if active(p)]
        want = int(spec.get("replicas", 1))
        diff = len(pods) - want
        if diff < 0:
            for _ in range(min(-diff, BURST)):
                pod = new_pod(rs, spec.get("template") or {}, generate_name=f"{meta['name']}-")
                created = create_pod(self.store, rs, pod, COMPONENT)
                if created:
                    pods.append(created)
        elif diff > 0:
            for pod in sorted(pods, key=_delete_rank)[:diff]:
                delete_pod(self.store, rs, pod, COMPONENT)
                pods.remove(pod)
        now = self.now()
        min_ready = int(spec.get("minReadySeconds") or 0)
        tpl_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        fully = sum(1 for p in pods if match_label_selector_obj({"matchLabels": tpl_labels}, p["metadata"].get("labels")))
        status = drop_empty({
            "replicas": len(pods),
            "fullyLabeledReplicas": fully,
            "readyReplicas": sum(1 for p in pods if pod_ready(p)),
            "availableReplicas": sum(1 for p in pods if pod_available(p, min_ready, now)),
            "observedGeneration": meta.get("generation", 1),
        }, keep=("replicas",))
        if (rs.get("status") or {}).get("conditions"):
            status["conditions"] = rs["status"]["conditions"]
        set_status(self.store, self.primary, rs, status)
        waits = [w for w in (ready_wait(p, min_ready, now) for p in pods) if w is not None]
        return min(waits) if waits else None


class ReplicationControllerController(ReplicaSetController):
    """replicationcontroller: the ReplicaSet controller's loop for core/v1 ReplicationControllers
    (selector a plain label map, defaulted from the template's labels)."""

    name = "replicationcontrollers"
    primary = "replicationcontrollers"
    owner_kind = "ReplicationController"

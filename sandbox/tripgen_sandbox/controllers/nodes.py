"""Node health: the kubelet's heartbeat (Ready condition lastHeartbeatTime and the node Lease)
and the node lifecycle controller's view of a node that stopped posting status. Faults are
plain data in cluster.faults["node-notready"] = {node: since_iso}, changed without a store
event, so every node is looked at once a second (writes happen only on heartbeats and flips).

A NotReady node gets every condition Unknown with reason NodeStatusUnknown and
lastTransitionTime = since (which may be in the past, so tools can measure how long it has been
down) plus the node.kubernetes.io/unreachable taints; removing the fault makes it Ready again."""

from __future__ import annotations

from datetime import timedelta

from tripgen_sandbox.apierrors import ApiError
from tripgen_sandbox.controllers.common import fmt_time, parse_time
from tripgen_sandbox.controllers.manager import Controller
from tripgen_sandbox.store import now_micro

HEARTBEAT_SECONDS = 5.0
POLL_SECONDS = 1.0
UNREACHABLE = "node.kubernetes.io/unreachable"
PRESSURE = {
    "MemoryPressure": ("KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    "DiskPressure": ("KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    "PIDPressure": ("KubeletHasSufficientPID", "kubelet has sufficient PID available"),
}


def node_ready_status(node: dict) -> str:
    for c in (node.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return c.get("status", "Unknown")
    return "Unknown"


class NodeController(Controller):
    name = "nodes"
    primary = "nodes"

    def keys_for(self, type_, key, obj):
        if type_ == "ADDED":  # later changes are our own writes or the kubelet's
            yield ("", obj["metadata"]["name"])

    def reconcile(self, key) -> float | None:
        node = self.get(key)
        if node is None:
            return None
        name = key[1]
        faults = self.cluster.faults.get("node-notready") or {}
        now = self.now()
        if name in faults:
            self._not_ready(node, str(faults[name]))
        elif node_ready_status(node) != "True" or any(t.get("key") == UNREACHABLE for t in node.get("spec", {}).get("taints") or []):
            self._ready(node, now)
        else:
            last = parse_time(next((c.get("lastHeartbeatTime") for c in node["status"].get("conditions") or [] if c.get("type") == "Ready"), None))
            if last is None or now - last >= timedelta(seconds=HEARTBEAT_SECONDS):
                self._heartbeat(node, now)
        return POLL_SECONDS

    def _heartbeat(self, node: dict, now) -> None:
        stamp = fmt_time(now)

        def beat(o):
            for c in o["status"].get("conditions") or []:
                c["lastHeartbeatTime"] = stamp
        self.store.mutate("nodes", None, node["metadata"]["name"], beat, subresource="status")
        self._renew_lease(node["metadata"]["name"])

    def _renew_lease(self, name: str) -> None:
        renew = now_micro()
        lease = self.store.get("leases.coordination.k8s.io", "kube-node-lease", name)
        if lease is None:
            node = self.store.get("nodes", None, name)
            try:
                self.store.create("leases.coordination.k8s.io", {
                    "metadata": {"name": name, "namespace": "kube-node-lease",
                                 "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": name, "uid": node["metadata"]["uid"]}] if node else []},
                    "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": renew}})
            except ApiError:
                pass
            return
        self.store.mutate("leases.coordination.k8s.io", "kube-node-lease", name, lambda o: o["spec"].update(renewTime=renew))

    def _not_ready(self, node: dict, since: str) -> None:
        ready = next((c for c in node["status"].get("conditions") or [] if c.get("type") == "Ready"), {})
        taints = node.get("spec", {}).get("taints") or []
        if ready.get("status") == "Unknown" and ready.get("lastTransitionTime") == since and any(t.get("key") == UNREACHABLE for t in taints):
            return
        name = node["metadata"]["name"]

        def down_status(o):
            for c in o["status"].get("conditions") or []:
                c.update(status="Unknown", reason="NodeStatusUnknown", message="Kubelet stopped posting node status.", lastTransitionTime=since)

        def down(o):
            keep = [t for t in o.get("spec", {}).get("taints") or [] if t.get("key") != UNREACHABLE]
            o.setdefault("spec", {})["taints"] = keep + [
                {"key": UNREACHABLE, "effect": "NoSchedule", "timeAdded": since},
                {"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": since},
            ]
        self.store.mutate("nodes", None, name, down_status, subresource="status")
        self.store.mutate("nodes", None, name, down)
        self.store.record_event(node, "NodeNotReady", f"Node {name} status is now: NodeNotReady", "Normal", "node-controller")

    def _ready(self, node: dict, now) -> None:
        name = node["metadata"]["name"]
        stamp = fmt_time(now)

        def up_status(o):
            for c in o["status"].get("conditions") or []:
                if c["type"] == "Ready":
                    if c.get("status") != "True":
                        c["lastTransitionTime"] = stamp
                    c.update(status="True", reason="KubeletReady", message="kubelet is posting ready status", lastHeartbeatTime=stamp)
                elif c["type"] in PRESSURE:
                    if c.get("status") != "False":
                        c["lastTransitionTime"] = stamp
                    reason, message = PRESSURE[c["type"]]
                    c.update(status="False", reason=reason, message=message, lastHeartbeatTime=stamp)

        def untaint(o):
            taints = [t for t in o.get("spec", {}).get("taints") or [] if t.get("key") != UNREACHABLE]
            if taints:
                o["spec"]["taints"] = taints
            else:
                o.get("spec", {}).pop("taints", None)
        self.store.mutate("nodes", None, name, up_status, subresource="status")
        self.store.mutate("nodes", None, name, untaint)
        self.store.record_event(node, "NodeReady", f"Node {name} status is now: NodeReady", "Normal", "kubelet")
        self._renew_lease(name)

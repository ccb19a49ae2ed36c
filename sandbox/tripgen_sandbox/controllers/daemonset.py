"""daemonset-controller: one pod per eligible node (its nodeSelector matches and it tolerates
the node's taints), bound to that node through a required node affinity on metadata.name as the
real controller writes it; the tolerations the controller adds (not-ready, unreachable, the
pressure taints, unschedulable); RollingUpdate (maxUnavailable 1 by default) or OnDelete when
the template changes; status counts as `kubectl get ds` shows them."""

from __future__ import annotations

from tripgen_sandbox.controllers.common import (
    active, create_pod, delete_pod, drop_empty, new_pod, owned, pod_available, pod_ready, safe_hash, set_status,
)
from tripgen_sandbox.controllers.manager import Controller
from tripgen_sandbox.controllers.scheduler import tolerates

COMPONENT = "daemonset-controller"
GEN = "pod-template-generation"
REV = "controller-revision-hash"
DS_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
]


def _eligible(ds: dict, node: dict) -> bool:
    spec = ((ds.get("spec") or {}).get("template") or {}).get("spec") or {}
    labels = node["metadata"].get("labels") or {}
    if any(labels.get(k) != v for k, v in (spec.get("nodeSelector") or {}).items()):
        return False
    probe = {"spec": {"tolerations": (spec.get("tolerations") or []) + DS_TOLERATIONS}}
    return all(tolerates(probe, t) for t in (node.get("spec") or {}).get("taints") or [] if t.get("effect") in ("NoSchedule", "NoExecute"))


def _node_of(pod: dict) -> str | None:
    if pod["spec"].get("nodeName"):
        return pod["spec"]["nodeName"]
    for term in ((((pod["spec"].get("affinity") or {}).get("nodeAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get("nodeSelectorTerms") or []):
        for f in term.get("matchFields") or []:
            if f.get("key") == "metadata.name" and f.get("values"):
                return f["values"][0]
    return None


class DaemonSetController(Controller):
    name = "daemonsets"
    primary = "daemonsets.apps"
    watches = ("pods", "nodes")

    def keys_for(self, type_, key, obj):
        if key == "pods":
            for ref in obj["metadata"].get("ownerReferences") or []:
                if ref.get("controller") and ref.get("kind") == "DaemonSet":
                    yield (obj["metadata"]["namespace"], ref["name"])
        elif key == "nodes":
            yield from self.resync_keys()
        else:
            yield from super().keys_for(type_, key, obj)

    def _pod(self, ds: dict, node: str, generation: int, revision: str) -> dict:
        tpl = ds["spec"].get("template") or {}
        pod = new_pod(ds, tpl, generate_name=f"{ds['metadata']['name']}-", labels={GEN: str(generation), REV: revision})
        spec = pod["spec"]
        spec["affinity"] = {**(spec.get("affinity") or {}), "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]}}}
        tolerations = spec.setdefault("tolerations", [])
        for t in DS_TOLERATIONS:
            if not any(x.get("key") == t["key"] and x.get("effect") == t["effect"] for x in tolerations):
                tolerations.append(dict(t))
        spec["nodeName"] = node  # the default scheduler honours the affinity; the sandbox's binds directly
        return pod

    def reconcile(self, key) -> float | None:
        ds = self.get(key)
        if ds is None or ds["metadata"].get("deletionTimestamp"):
            return None
        ns, meta, spec = key[0], ds["metadata"], ds.get("spec") or {}
        generation = int(meta.get("generation", 1))
        revision = safe_hash(spec.get("template") or {})
        nodes = {n["metadata"]["name"]: n for n in self.store.iter("nodes")}
        wanted = {name for name, n in nodes.items() if _eligible(ds, n)}
        pods = [p for p in owned(self.store, "pods", ns, meta["uid"]) if active(p)]
        by_node: dict[str, list[dict]] = {}
        for p in pods:
            by_node.setdefault(_node_of(p) or "", []).append(p)
        for node, ps in by_node.items():
            extra = ps if node not in wanted else sorted(ps, key=lambda p: p["metadata"].get("creationTimestamp", ""))[1:]
            for p in extra:
                delete_pod(self.store, ds, p, COMPONENT)
                ps.remove(p)
        for node in sorted(wanted):
            if not by_node.get(node):
                created = create_pod(self.store, ds, self._pod(ds, node, generation, revision), COMPONENT)
                if created:
                    by_node[node] = [created]
        current = [ps[0] for node, ps in by_node.items() if ps and node in wanted]
        strategy = spec.get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") == "RollingUpdate":
            budget = _max_unavailable(strategy, len(wanted)) - sum(1 for p in current if not pod_ready(p))
            for p in current:
                if budget <= 0:
                    break
                if (p["metadata"].get("labels") or {}).get(REV) != revision:
                    delete_pod(self.store, ds, p, COMPONENT)
                    budget -= 1
        min_ready = int(spec.get("minReadySeconds") or 0)
        now = self.now()
        ready = sum(1 for p in current if pod_ready(p))
        available = sum(1 for p in current if pod_available(p, min_ready, now))
        status = drop_empty({
            "currentNumberScheduled": len(current),
            "desiredNumberScheduled": len(wanted),
            "numberMisscheduled": 0,
            "numberReady": ready,
            "observedGeneration": generation,
            "updatedNumberScheduled": sum(1 for p in current if (p["metadata"].get("labels") or {}).get(REV) == revision),
            "numberAvailable": available,
            "numberUnavailable": len(wanted) - available,
        }, keep=("currentNumberScheduled", "desiredNumberScheduled", "numberMisscheduled", "numberReady"))
        set_status(self.store, "daemonsets.apps", ds, status)
        return None


def _max_unavailable(strategy: dict, total: int) -> int:
    value = (strategy.get("rollingUpdate") or {}).get("maxUnavailable", 1)
    if isinstance(value, str) and value.endswith("%"):
        return max(1, total * int(value[:-1]) // 100)
    return max(1, int(value))

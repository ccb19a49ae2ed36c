"""default-scheduler: binds pending pods to a node with room for their requests. Fit is what
the real NodeResourcesFit plugin checks: allocatable minus the requests of the non-terminal
pods already bound; a pod's request is the sum over containers, or the largest init container
if bigger; a container with limits and no requests requests its limits. Also honoured:
nodeSelector, spec.unschedulable, NoSchedule/NoExecute taints the pod does not tolerate (a
NotReady node's unreachable/not-ready taints). A pod that fits nowhere gets PodScheduled False
(Unschedulable) with the real message and a FailedScheduling event, and is retried when pods go
away or nodes change (and on resync)."""

from __future__ import annotations

from dataclasses import dataclass, field

from tripgenctl import quantity
from tripgen_sandbox.controllers.common import active, deleting, terminal
from tripgen_sandbox.controllers.manager import Controller
from tripgen_sandbox.store import now_iso

ALL = ("", "*")
RESOURCE_REASONS = {"Insufficient cpu", "Insufficient memory", "Insufficient ephemeral-storage", "Too many pods"}  # the scheduler works on every pending pod at once: they compete for room


@dataclass
class Request:
    cpu: float = 0.0  # millicores
    memory: float = 0.0  # bytes
    storage: float = 0.0  # ephemeral-storage bytes

    def add(self, other: "Request") -> None:
        self.cpu += other.cpu
        self.memory += other.memory
        self.storage += other.storage


@dataclass
class NodeRoom:
    name: str
    node: dict
    allocatable: Request
    used: Request = field(default_factory=Request)
    pods: int = 0
    max_pods: int = 110


def _container_request(c: dict) -> Request:
    res = c.get("resources") or {}
    req, lim = res.get("requests") or {}, res.get("limits") or {}

    def pick(name: str):
        return req.get(name, lim.get(name))

    return Request(quantity.cpu_millis(pick("cpu")), quantity.parse(pick("memory")), quantity.parse(pick("ephemeral-storage")))


def pod_request(pod: dict) -> Request:
    spec = pod.get("spec") or {}
    total = Request()
    for c in spec.get("containers") or []:
        total.add(_container_request(c))
    for c in spec.get("initContainers") or []:
        ic = _container_request(c)
        total = Request(max(total.cpu, ic.cpu), max(total.memory, ic.memory), max(total.storage, ic.storage))
    overhead = spec.get("overhead") or {}
    if overhead:
        total.add(Request(quantity.cpu_millis(overhead.get("cpu")), quantity.parse(overhead.get("memory"))))
    return total


def tolerates(pod: dict, taint: dict) -> bool:
    for t in (pod.get("spec") or {}).get("tolerations") or []:
        if t.get("effect") and t["effect"] != taint.get("effect"):
            continue
        op = t.get("operator", "Equal")
        if op == "Exists" and (not t.get("key") or t.get("key") == taint.get("key")):
            return True
        if op == "Equal" and t.get("key") == taint.get("key") and (t.get("value") or "") == (taint.get("value") or ""):
            return True
    return False


def _bound_elsewhere(pod: dict) -> bool:
    return bool((pod.get("spec") or {}).get("nodeName"))


def _wants_us(pod: dict) -> bool:
    spec = pod.get("spec") or {}
    return (spec.get("schedulerName") or "default-scheduler") == "default-scheduler"


class Scheduler(Controller):
    name = "scheduler"
    primary = ""
    watches = ("pods", "nodes")

    def __init__(self, manager):
        super().__init__(manager)
        self._node_sig: dict[str, tuple] = {}

    def keys_for(self, type_, key, obj):
        if key == "pods":
            pending = not _bound_elsewhere(obj) and not deleting(obj)
            freed = _bound_elsewhere(obj) and (type_ == "DELETED" or terminal(obj) or deleting(obj))
            if (pending and type_ == "ADDED") or freed:
                yield ALL
        elif key == "nodes":
            name = obj["metadata"]["name"]
            st = obj.get("status") or {}
            sig = (type_, str(st.get("allocatable")), str((obj.get("spec") or {}).get("taints")), (obj.get("spec") or {}).get("unschedulable"),
                   str(obj["metadata"].get("labels")))
            if self._node_sig.get(name) != sig:
                self._node_sig[name] = sig
                yield ALL

    def resync_keys(self):
        return [ALL]

    def reconcile(self, key) -> float | None:
        pending = [p for p in self.store.iter("pods") if not _bound_elsewhere(p) and active(p) and _wants_us(p)]
        if not pending:
            return None
        rooms = self._rooms()
        for pod in sorted(pending, key=lambda p: (-(p["spec"].get("priority") or 0), p["metadata"].get("creationTimestamp", ""))):
            self._schedule_one(pod, rooms)
        return None

    def _rooms(self) -> list[NodeRoom]:
        rooms: dict[str, NodeRoom] = {}
        for n in self.store.iter("nodes"):
            alloc = (n.get("status") or {}).get("allocatable") or {}
            rooms[n["metadata"]["name"]] = NodeRoom(
                n["metadata"]["name"], n,
                Request(quantity.cpu_millis(alloc.get("cpu")), quantity.parse(alloc.get("memory")), quantity.parse(alloc.get("ephemeral-storage"))),
                max_pods=int(quantity.parse(alloc.get("pods") or 110)))
        for p in self.store.iter("pods"):
            room = rooms.get((p.get("spec") or {}).get("nodeName") or "")
            if room is not None and not terminal(p):
                room.used.add(pod_request(p))
                room.pods += 1
        return sorted(rooms.values(), key=lambda r: r.name)

    def _why_not(self, pod: dict, room: NodeRoom, want: Request) -> list[str]:
        spec = pod.get("spec") or {}
        labels = room.node["metadata"].get("labels") or {}
        nspec = room.node.get("spec") or {}
        if nspec.get("unschedulable"):
            return ["node(s) were unschedulable"]
        for k, v in (spec.get("nodeSelector") or {}).items():
            if labels.get(k) != v:
                return ["node(s) didn't match Pod's node affinity/selector"]
        for taint in nspec.get("taints") or []:
            if taint.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(pod, taint):
                return [f"node(s) had untolerated taint {{{taint.get('key')}: {taint.get('value') or ''}}}"]
        why = []
        if room.pods + 1 > room.max_pods:
            why.append("Too many pods")
        if want.cpu and room.used.cpu + want.cpu > room.allocatable.cpu + 1e-9:
            why.append("Insufficient cpu")
        if want.memory and room.used.memory + want.memory > room.allocatable.memory:
            why.append("Insufficient memory")
        if want.storage and room.used.storage + want.storage > room.allocatable.storage:
            why.append("Insufficient ephemeral-storage")
        return why

    def _schedule_one(self, pod: dict, rooms: list[NodeRoom]) -> None:
        want = pod_request(pod)
        reasons: dict[str, int] = {}
        fits: list[NodeRoom] = []
        victims = 0  # nodes where only resources are short: preemption could have helped
        for room in rooms:
            why = self._why_not(pod, room, want)
            for w in why:
                reasons[w] = reasons.get(w, 0) + 1
            if not why:
                fits.append(room)
            elif all(w in RESOURCE_REASONS for w in why):
                victims += 1
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        if fits:
            # LeastAllocated scoring, roughly: the node with the most free cpu+memory share
            def free(r: NodeRoom) -> float:
                cpu = 1 - (r.used.cpu + want.cpu) / r.allocatable.cpu if r.allocatable.cpu else 0
                mem = 1 - (r.used.memory + want.memory) / r.allocatable.memory if r.allocatable.memory else 0
                return cpu + mem
            room = max(fits, key=free)
            room.used.add(want)
            room.pods += 1
            self._bind(pod, room.name)
            return
        self._unschedulable(pod, rooms, reasons, victims)

    def _bind(self, pod: dict, node: str) -> None:
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        stamp = now_iso()

        def bind(o):
            o["spec"]["nodeName"] = node

        def scheduled(o):
            conds = [c for c in (o.get("status") or {}).get("conditions") or [] if c.get("type") != "PodScheduled"]
            o.setdefault("status", {})["conditions"] = [{"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": stamp}] + conds

        if self.store.mutate("pods", ns, name, bind) is None:
            return
        self.store.mutate("pods", ns, name, scheduled, subresource="status")
        self.store.record_event(pod, "Scheduled", f"Successfully assigned {ns}/{name} to {node}", "Normal", "default-scheduler")

    def _unschedulable(self, pod: dict, rooms: list[NodeRoom], reasons: dict[str, int], victims: int) -> None:
        total = len(rooms)
        detail = ", ".join(f"{n} {why}" for why, n in sorted(reasons.items(), key=lambda kv: kv[0]))
        message = f"0/{total} nodes are available: {detail}." if detail else f"0/{total} nodes are available."
        blocked = total - victims
        pre = []
        if victims:
            pre.append(f"{victims} No preemption victims found for incoming pod")
        if blocked > 0 and total:
            pre.append(f"{blocked} Preemption is not helpful for scheduling")
        message += f" preemption: 0/{total} nodes are available: {', '.join(sorted(pre))}." if pre else ""
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        cur = next((c for c in (pod.get("status") or {}).get("conditions") or [] if c.get("type") == "PodScheduled"), {})
        if cur.get("status") != "False" or cur.get("message") != message:
            stamp = now_iso()

            def mark(o):
                conds = [c for c in (o.get("status") or {}).get("conditions") or [] if c.get("type") != "PodScheduled"]
                o.setdefault("status", {})["conditions"] = conds + [{"type": "PodScheduled", "status": "False", "lastProbeTime": None,
                                                                     "lastTransitionTime": cur.get("lastTransitionTime") if cur.get("status") == "False" else stamp,
                                                                     "reason": "Unschedulable", "message": message}]
            self.store.mutate("pods", ns, name, mark, subresource="status")
        self.store.record_event(pod, "FailedScheduling", message, "Warning", "default-scheduler")

"""Usage numbers measured from the real processes: memory working set (what the OOM watchdog
and metrics.k8s.io use) and CPU in nanocores from the change of CPU time between samples."""

from __future__ import annotations

import os
import time

import psutil


# Whether this kernel keeps per-thread children lists (CONFIG_PROC_CHILDREN): asked once, of
# this process's own main thread, not per process on every call.
CHILDREN_LISTS = os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children")


def _children(pid: int) -> list[int]:
    """The children of every thread of `pid` (none when it is gone)."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    kids: list[int] = []
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                kids += [int(x) for x in fh.read().split()]
        except OSError:
            continue  # a thread that ended meanwhile
    return kids


def descendants(pid: int) -> list[int]:
    """Every process below `pid`, read from the kernel's per-thread children lists: the cost
    grows with the tree, not with every process on the machine (psutil's children(recursive=
    True) reads the whole /proc each call, which the OOM watchdogs of four sandboxes paid many
    times a second). Kernels without those lists get psutil's walk."""
    if not CHILDREN_LISTS:
        return _psutil_descendants(pid)
    found: list[int] = []
    todo = [pid]
    while todo:
        kids = _children(todo.pop())
        found += kids
        todo += kids
    return found


def _psutil_descendants(pid: int) -> list[int]:
    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


def _tree(pid: int) -> list[psutil.Process]:
    procs = []
    for p in [pid, *descendants(pid)]:
        try:
            procs.append(psutil.Process(p))
        except psutil.Error:
            continue
    return procs


def tree_memory(pid: int | None) -> int:
    """Bytes of a process tree: private memory of every process plus shared pages once
    (PostgreSQL backends all map the same shared buffers; counting them per backend would
    OOM-kill a healthy server)."""
    if not pid:
        return 0
    total = 0
    shared = 0
    for p in _tree(pid):
        try:
            mi = p.memory_info()
        except psutil.Error:
            continue
        sh = getattr(mi, "shared", 0)
        total += max(mi.rss - sh, 0)
        shared = max(shared, sh)
    return total + shared


def tree_cpu_seconds(pid: int | None) -> float:
    if not pid:
        return 0.0
    total = 0.0
    for p in _tree(pid):
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            continue
    return total


class CpuSampler:
    """Nanocores of one process tree: rate between this call and the previous one (at least
    1 s apart, like metrics-server's window), or since the process started on the first call."""

    def __init__(self) -> None:
        self._last: dict[int, tuple[float, float, int]] = {}  # pid -> (wall, cpu, nanocores)

    def nanocores(self, pid: int | None) -> int:
        if not pid:
            return 0
        now = time.monotonic()
        cpu = tree_cpu_seconds(pid)
        last = self._last.get(pid)
        if last is None:
            try:
                age = max(time.time() - psutil.Process(pid).create_time(), 0.1)
            except psutil.Error:
                return 0
            value = int(cpu / age * 1e9)
            self._last[pid] = (now, cpu, value)
            return value
        wall0, cpu0, value = last
        if now - wall0 >= 1.0:
            value = int(max(cpu - cpu0, 0.0) / (now - wall0) * 1e9)
            self._last[pid] = (now, cpu, value)
        return value

    def forget(self, pid: int | None) -> None:
        self._last.pop(pid or -1, None)


def _dir_bytes(path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


def stats_summary(kubelet, node: str) -> dict:
    """The kubelet's /stats/summary for one node: per-pod CPU/memory and PVC volume usage
    (capacity from the claim's request; a `disk` fault overrides the used percentage:
    cluster.faults["disk"] = {"<ns>/<claim>": used_percent})."""
    from datetime import datetime, timezone  # noqa: PLC0415

    from tripgenctl.quantity import parse as parse_quantity  # noqa: PLC0415
    from tripgen_sandbox.kubelet.volumes import pvc_dir  # noqa: PLC0415

    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    disk_faults = (kubelet.cluster.faults or {}).get("disk") or {}
    shape = next((n for n in kubelet.config.nodes if n.name == node), None)
    pods = []
    node_cpu = node_mem = 0
    for w in list(kubelet.workers.values()):
        if w.node != node:
            continue
        containers = []
        pod_cpu = pod_mem = 0
        for name, (cpu, mem) in kubelet.usage(w.namespace, w.name).items():
            pod_cpu += cpu
            pod_mem += mem
            containers.append({
                "name": name, "startTime": w.start_time,
                "cpu": {"time": now, "usageNanoCores": cpu},
                "memory": {"time": now, "workingSetBytes": mem, "usageBytes": mem, "rssBytes": mem},
            })
        volumes = []
        pod = w.current_pod() or {}
        for vol in (pod.get("spec") or {}).get("volumes") or []:
            claim = (vol.get("persistentVolumeClaim") or {}).get("claimName")
            if not claim:
                continue
            pvc = kubelet.store.get("persistentvolumeclaims", w.namespace, claim) or {}
            cap = int(parse_quantity((((pvc.get("spec") or {}).get("resources") or {}).get("requests") or {}).get("storage", "1Gi")))
            used = _dir_bytes(pvc_dir(kubelet.config.state_dir, w.namespace, claim))
            pct = disk_faults.get(f"{w.namespace}/{claim}")
            if pct is not None:
                used = int(cap * float(pct) / 100)
            volumes.append({
                "time": now, "name": vol["name"], "pvcRef": {"name": claim, "namespace": w.namespace},
                "capacityBytes": cap, "usedBytes": used, "availableBytes": max(cap - used, 0),
                "inodes": 1000000, "inodesUsed": 1000, "inodesFree": 999000,
            })
        node_cpu += pod_cpu
        node_mem += pod_mem
        pods.append({
            "podRef": {"name": w.name, "namespace": w.namespace, "uid": w.uid},
            "startTime": w.start_time, "containers": containers,
            "cpu": {"time": now, "usageNanoCores": pod_cpu},
            "memory": {"time": now, "workingSetBytes": pod_mem, "usageBytes": pod_mem},
            "volume": volumes,
        })
    capacity = int(parse_quantity(shape.memory)) if shape else 4 * 2**30
    return {
        "node": {
            "nodeName": node, "startTime": now,
            "cpu": {"time": now, "usageNanoCores": node_cpu},
            "memory": {"time": now, "workingSetBytes": node_mem, "usageBytes": node_mem, "availableBytes": max(capacity - node_mem, 0)},
        },
        "pods": pods,
    }

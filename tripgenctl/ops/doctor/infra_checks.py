"""Node and capacity alerts: NotReady duration, memory against limits, disk against capacity."""

from __future__ import annotations

from tripgenctl import quantity
from tripgenctl.kube import resources
from tripgenctl.ops.doctor.knowledge import texts
from tripgenctl.ops.doctor.model import Finding
from tripgenctl.ops.doctor.snapshot import Snapshot
from tripgenctl.timestamps import minutes_since


def check_nodes(snap: Snapshot, cfg, ctx) -> list[Finding]:
    out = []
    limit = cfg.thresholds.node_notready_minutes
    for n in snap.nodes:
        ready = next((c for c in n.get("status", {}).get("conditions") or [] if c.get("type") == "Ready"), None)
        if ready and ready.get("status") == "True":
            continue
        minutes = minutes_since((ready or {}).get("lastTransitionTime"), ctx.now)
        severity = "critical" if minutes >= limit else "warning"
        name = n["metadata"]["name"]
        out.append(Finding(
            "node", severity, f"node/{name}",
            f"node NotReady for {minutes:.1f} min" + (f" (alert at {limit:g} min)" if severity == "critical" else f" (below the {limit:g} min alert)"),
            evidence=f"Ready={ (ready or {}).get('status', 'Unknown')} reason {(ready or {}).get('reason', '?')} since {(ready or {}).get('lastTransitionTime', '?')}: {(ready or {}).get('message', '')}",
            command=f"kubectl describe node {name}",
            **texts("node"),
        ))
    return out


def check_memory(snap: Snapshot, cfg, ctx) -> list[Finding]:
    if snap.pod_metrics is None:
        return [Finding("memory", "warning", "metrics.k8s.io", "resource metrics unavailable: memory and CPU alerts not evaluated",
                        evidence=snap.metrics_error, command="kubectl get apiservice v1beta1.metrics.k8s.io", **texts("memory"))]
    out = []
    pct = cfg.thresholds.memory_percent
    pods = {p["metadata"]["name"]: p for p in snap.pods}
    for m in snap.pod_metrics:
        pod = pods.get(m["metadata"]["name"])
        if not pod:
            continue
        limits = {c["name"]: ((c.get("resources") or {}).get("limits") or {}).get("memory") for c in pod["spec"].get("containers") or []}
        for c in m.get("containers") or []:
            limit = quantity.parse(limits.get(c["name"]))
            if not limit:
                continue
            used = quantity.parse(c["usage"].get("memory"))
            share = 100 * used / limit
            if share >= pct:
                out.append(Finding("memory", "critical", f"pod/{m['metadata']['name']}",
                                   f"container {c['name']} uses {share:.0f}% of its memory limit (alert at {pct:g}%)",
                                   evidence=f"{quantity.fmt_bytes(used)} of {quantity.fmt_bytes(limit)}",
                                   command=f"kubectl top pod {m['metadata']['name']} -n {snap.namespace} --containers", **texts("memory")))
    for m in snap.node_metrics or []:
        node = next((n for n in snap.nodes if n["metadata"]["name"] == m["metadata"]["name"]), None)
        if not node:
            continue
        alloc = quantity.parse(node["status"].get("allocatable", {}).get("memory"))
        used = quantity.parse(m["usage"].get("memory"))
        if alloc and 100 * used / alloc >= pct:
            out.append(Finding("memory", "critical", f"node/{m['metadata']['name']}",
                               f"node uses {100 * used / alloc:.0f}% of its allocatable memory (alert at {pct:g}%)",
                               evidence=f"{quantity.fmt_bytes(used)} of {quantity.fmt_bytes(alloc)}",
                               command="kubectl top nodes", **texts("memory")))
    return out


def check_disk(snap: Snapshot, cfg, ctx) -> list[Finding]:
    if not snap.node_stats:
        return [Finding("disk", "warning", "kubelet", "kubelet stats summary unavailable: disk alerts not evaluated",
                        command=f"kubectl get --raw {resources.stats_path('<node>')}", **texts("disk"))]
    out = []
    pct = cfg.thresholds.disk_percent
    for node, stats in snap.node_stats.items():
        fs = (stats.get("node") or {}).get("fs") or {}
        if fs.get("capacityBytes"):
            share = 100 * fs.get("usedBytes", 0) / fs["capacityBytes"]
            if share >= pct:
                out.append(Finding("disk", "critical", f"node/{node}", f"node filesystem {share:.0f}% used (alert at {pct:g}%)",
                                   evidence=f"{quantity.fmt_bytes(fs.get('usedBytes', 0))} of {quantity.fmt_bytes(fs['capacityBytes'])}",
                                   command=f"kubectl describe node {node}", **texts("disk")))
        for pod in stats.get("pods") or []:
            for vol in pod.get("volume") or []:
                ref = vol.get("pvcRef") or {}
                if not ref or ref.get("namespace") != snap.namespace or not vol.get("capacityBytes"):
                    continue
                share = 100 * vol.get("usedBytes", 0) / vol["capacityBytes"]
                if share >= pct:
                    out.append(Finding("disk", "critical", f"pvc/{ref.get('name')}", f"volume {share:.0f}% used (alert at {pct:g}%)",
                                       evidence=f"{quantity.fmt_bytes(vol.get('usedBytes', 0))} of {quantity.fmt_bytes(vol['capacityBytes'])} (pod {pod.get('podRef', {}).get('name')})",
                                       command=_grow_pvc_command(ref.get("name"), snap.namespace, vol["capacityBytes"]), **texts("disk")))
    return out


def _grow_pvc_command(claim: str, namespace: str, capacity: float) -> str:
    """managed-csi allows expansion: suggest doubling the claim (after looking at what fills it)."""
    gib = max(1, round(2 * capacity / 2**30))
    patch = '{"spec":{"resources":{"requests":{"storage":"%dGi"}}}}' % gib
    return f"kubectl patch pvc {claim} -n {namespace} -p '{patch}'   # first see what fills it: kubectl exec <pod> -- du -sh <mount>"

"""metrics.k8s.io/v1beta1 as metrics-server serves it, measured from the real processes by the
kubelet (CPU in nanocores, memory working set in bytes)."""

from __future__ import annotations

from datetime import datetime, timezone

from tripgen_sandbox.apierrors import ApiError, not_found


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cpu(n: int) -> str:
    return f"{int(n)}n"


def _mem(b: int) -> str:
    return f"{int(b) // 1024}Ki"


def _pod_metrics(cluster, pod: dict) -> dict | None:
    meta = pod["metadata"]
    usage = cluster.kubelet.usage(meta["namespace"], meta["name"]) if cluster.kubelet else {}
    if not usage:
        return None
    return {
        "kind": "PodMetrics",
        "apiVersion": "metrics.k8s.io/v1beta1",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"], "creationTimestamp": _now(), "labels": meta.get("labels", {})},
        "timestamp": _now(),
        "window": "10s",
        "containers": [{"name": c, "usage": {"cpu": _cpu(cpu), "memory": _mem(mem)}} for c, (cpu, mem) in usage.items()],
    }


def _node_metrics(cluster, node: dict) -> dict:
    cpu, mem = cluster.kubelet.node_usage(node["metadata"]["name"]) if cluster.kubelet else (0, 0)
    return {
        "kind": "NodeMetrics",
        "apiVersion": "metrics.k8s.io/v1beta1",
        "metadata": {"name": node["metadata"]["name"], "creationTimestamp": _now(), "labels": node["metadata"].get("labels", {})},
        "timestamp": _now(),
        "window": "10s",
        "usage": {"cpu": _cpu(cpu), "memory": _mem(mem)},
    }


def handle(cluster, r) -> dict:
    if cluster.faults.get("metrics-unavailable"):
        raise ApiError(503, "the server is currently unable to handle the request (get pods.metrics.k8s.io)", "ServiceUnavailable")
    store = cluster.store
    if r.type.kind == "PodMetrics":
        if r.name:
            pod = store.require("pods", r.namespace, r.name)
            m = _pod_metrics(cluster, pod)
            if m is None:
                raise not_found("pods", r.name, "metrics.k8s.io")
            return m
        items = [m for p in store.iter("pods", r.namespace) if (m := _pod_metrics(cluster, p))]
        return {"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {}, "items": items}
    if r.name:
        return _node_metrics(cluster, store.require("nodes", None, r.name))
    return {"kind": "NodeMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {}, "items": [_node_metrics(cluster, n) for n in store.iter("nodes")]}

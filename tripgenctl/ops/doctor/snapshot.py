"""One read of the namespace for every check: a fixed set of list calls whatever the number of
pods (JSON dicts, not SDK models: deserialising models is the slow part of the Python client)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from tripgenctl.errors import ToolError
from tripgenctl.kube import resources


@dataclass
class Snapshot:
    namespace: str
    pods: list[dict]
    events: list[dict]
    nodes: list[dict]
    pvcs: list[dict]
    deployments: list[dict]
    statefulsets: list[dict]
    secrets: list[dict]
    networkpolicies: list[dict]
    services: list[dict]
    pod_metrics: list[dict] | None  # None: metrics.k8s.io unavailable
    node_metrics: list[dict] | None
    node_stats: dict[str, dict] = field(default_factory=dict)  # node -> kubelet stats summary
    metrics_error: str = ""

    def pod(self, name: str) -> dict | None:
        return next((p for p in self.pods if p["metadata"]["name"] == name), None)

    def events_for(self, kind: str, name: str) -> list[dict]:
        return [e for e in self.events if e.get("involvedObject", {}).get("kind") == kind and e.get("involvedObject", {}).get("name") == name]


# Snapshot field -> (apiVersion, kind) read from the namespace (nodes: the cluster's)
COLLECTIONS = {
    "pods": ("v1", "Pod"),
    "events": ("v1", "Event"),
    "pvcs": ("v1", "PersistentVolumeClaim"),
    "deployments": ("apps/v1", "Deployment"),
    "statefulsets": ("apps/v1", "StatefulSet"),
    "secrets": ("v1", "Secret"),
    "networkpolicies": ("networking.k8s.io/v1", "NetworkPolicy"),
    "services": ("v1", "Service"),
}


def take(kube) -> Snapshot:
    ns = kube.namespace
    if resources.exists(kube, "v1", "Namespace", ns) is False:
        raise ToolError(f'namespace "{ns}" does not exist in context {kube.context_name}', 2)
    # Every read in flight at once; the usage reads (metrics, stats summaries) are the slow ones
    # on any cluster, so they start first and the stats wait only for the node list.
    with ThreadPoolExecutor(max_workers=len(COLLECTIONS) + 7) as pool:
        nodes = pool.submit(resources.items, kube, "v1", "Node")
        pm = pool.submit(resources.optional_items, kube, "metrics.k8s.io/v1beta1", "PodMetrics", ns)
        nm = pool.submit(resources.optional_items, kube, "metrics.k8s.io/v1beta1", "NodeMetrics")
        futures = {k: pool.submit(resources.items, kube, api_version, kind, ns) for k, (api_version, kind) in COLLECTIONS.items()}
        results = {"nodes": nodes.result()}
        stats = {n["metadata"]["name"]: pool.submit(resources.node_stats, kube, n["metadata"]["name"]) for n in results["nodes"]}
        results.update({k: f.result() for k, f in futures.items()})
        (pod_metrics, err1), (node_metrics, err2) = pm.result(), nm.result()
        node_stats = {k: v for k, f in stats.items() if (v := f.result()) is not None}
    return Snapshot(namespace=ns, pod_metrics=pod_metrics, node_metrics=node_metrics, node_stats=node_stats, metrics_error=err1 or err2, **results)

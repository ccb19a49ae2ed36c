"""One read of the namespace for every check: a fixed set of list calls whatever the number of
pods (JSON dicts, not SDK models: deserialising models is the slow part of the Python client)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from tripgenctl.errors import ToolError


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


def take(kube) -> Snapshot:
    ns = kube.namespace
    status, _ = kube.get_json(f"/api/v1/namespaces/{ns}")
    if status == 404:
        raise ToolError(f'namespace "{ns}" does not exist in context {kube.context_name}', 2)
    paths = {
        "pods": f"/api/v1/namespaces/{ns}/pods",
        "events": f"/api/v1/namespaces/{ns}/events",
        "nodes": "/api/v1/nodes",
        "pvcs": f"/api/v1/namespaces/{ns}/persistentvolumeclaims",
        "deployments": f"/apis/apps/v1/namespaces/{ns}/deployments",
        "statefulsets": f"/apis/apps/v1/namespaces/{ns}/statefulsets",
        "secrets": f"/api/v1/namespaces/{ns}/secrets",
        "networkpolicies": f"/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies",
        "services": f"/api/v1/namespaces/{ns}/services",
    }
    # Every read in flight at once; the usage reads (metrics, stats summaries) are the slow ones
    # on any cluster, so they start first and the stats wait only for the node list.
    with ThreadPoolExecutor(max_workers=len(paths) + 6) as pool:
        nodes = pool.submit(kube.list_json, paths.pop("nodes"))
        pm = pool.submit(_optional_list, kube, f"/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods")
        nm = pool.submit(_optional_list, kube, "/apis/metrics.k8s.io/v1beta1/nodes")
        futures = {k: pool.submit(kube.list_json, p) for k, p in paths.items()}
        results = {"nodes": nodes.result()}
        stats = {n["metadata"]["name"]: pool.submit(_optional_get, kube, f"/api/v1/nodes/{n['metadata']['name']}/proxy/stats/summary") for n in results["nodes"]}
        results.update({k: f.result() for k, f in futures.items()})
        (pod_metrics, err1), (node_metrics, err2) = pm.result(), nm.result()
        node_stats = {k: v for k, f in stats.items() if (v := f.result()) is not None}
    return Snapshot(namespace=ns, pod_metrics=pod_metrics, node_metrics=node_metrics, node_stats=node_stats, metrics_error=err1 or err2, **results)


def _optional_list(kube, path: str) -> tuple[list[dict] | None, str]:
    try:
        status, body = kube.get_json(path)
    except ToolError as exc:
        return None, f"metrics.k8s.io unavailable: {exc.message}"
    if status != 200:
        msg = body.get("message") if isinstance(body, dict) else ""
        return None, f"metrics.k8s.io unavailable ({status}{': ' + msg if msg else ''})"
    return body.get("items", []), ""


def _optional_get(kube, path: str) -> dict | None:
    try:
        status, body = kube.get_json(path)
    except ToolError:
        return None
    return body if status == 200 and isinstance(body, dict) else None

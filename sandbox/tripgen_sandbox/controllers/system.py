"""kube-system as a fresh AKS 1.29 cluster has it: the add-on Deployments (coredns,
coredns-autoscaler, metrics-server, konnectivity-agent) and DaemonSets (kube-proxy,
azure-ip-masq-agent, cloud-node-manager, the Azure Disk and Azure File CSI node plugins) with
AKS's images, labels, priority classes and resource requests, plus the kube-dns and
metrics-server Services. Their containers are stand-ins (runtimes: mcr.microsoft.com images
idle in a `sleep`), so they stay Running and Ready at almost no CPU or memory, while the
scheduler still counts their requests as on a real node. Created when missing at start."""

from __future__ import annotations

from tripgen_sandbox.apierrors import ApiError
from tripgen_sandbox.apiserver.defaults import apply_defaults

NS = "kube-system"
MCR = "mcr.microsoft.com"
ADDON = {"addonmanager.kubernetes.io/mode": "Reconcile", "kubernetes.io/cluster-service": "true"}


def _c(name: str, image: str, cpu: str, memory: str, limit_memory: str | None = None, args: list[str] | None = None, ports=None) -> dict:
    requests = {"cpu": cpu, **({"memory": memory} if memory != "0" else {})}
    c = {"name": name, "image": f"{MCR}/{image}", "resources": {"requests": requests}}
    if limit_memory:
        c["resources"]["limits"] = {"memory": limit_memory}
    if args:
        c["args"] = args
    if ports:
        c["ports"] = ports
    return c


def _workload(kind: str, name: str, labels: dict, containers: list[dict], replicas: int | None = None,
              priority: str = "system-cluster-critical", sa: str | None = None, host_network: bool = False) -> dict:
    spec = {"priorityClassName": priority, "containers": containers, "nodeSelector": {"kubernetes.io/os": "linux"}}
    if sa:
        spec["serviceAccountName"] = sa
    if host_network:
        spec["hostNetwork"] = True
    if kind == "DaemonSet":
        spec["tolerations"] = [{"operator": "Exists", "effect": "NoSchedule"}, {"operator": "Exists", "effect": "NoExecute"}, {"key": "CriticalAddonsOnly", "operator": "Exists"}]
    else:
        spec["tolerations"] = [{"key": "CriticalAddonsOnly", "operator": "Exists"}]
    obj = {
        "apiVersion": "apps/v1", "kind": kind,
        "metadata": {"name": name, "namespace": NS, "labels": {**labels, **ADDON}},
        "spec": {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": spec}},
    }
    if replicas is not None:
        obj["spec"]["replicas"] = replicas
    return obj


def workloads() -> list[dict]:
    v = "v1.29.4"
    return [
        _workload("Deployment", "coredns", {"k8s-app": "kube-dns", "version": "v20"}, [
            _c("coredns", "oss/kubernetes/coredns:v1.9.4-hotfix.20240704", "100m", "70Mi", "500Mi", ["-conf", "/etc/coredns/Corefile"],
               [{"name": "dns", "containerPort": 53, "protocol": "UDP"}, {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"}, {"name": "metrics", "containerPort": 9153, "protocol": "TCP"}])],
            replicas=2, sa="coredns"),
        _workload("Deployment", "coredns-autoscaler", {"k8s-app": "coredns-autoscaler"}, [
            _c("autoscaler", "oss/kubernetes/autoscaler/cluster-proportional-autoscaler:v1.8.9", "20m", "10Mi", "500Mi")],
            replicas=1, sa="coredns-autoscaler"),
        _workload("Deployment", "metrics-server", {"k8s-app": "metrics-server"}, [
            _c("metrics-server", "oss/kubernetes/metrics-server:v0.6.3", "50m", "85Mi", "400Mi", ["--kubelet-use-node-status-port", "--secure-port=4443"],
               [{"name": "https", "containerPort": 4443, "protocol": "TCP"}]),
            _c("metrics-server-vpa", "oss/kubernetes/autoscaler/addon-resizer:1.8.20", "5m", "25Mi", "100Mi")],
            replicas=2, sa="metrics-server"),
        _workload("Deployment", "konnectivity-agent", {"app": "konnectivity-agent"}, [
            _c("konnectivity-agent", "oss/kubernetes/apiserver-network-proxy/agent:v0.1.6-hotfix.20240116", "20m", "20Mi", "1Gi")],
            replicas=2, sa="konnectivity-agent"),
        _workload("DaemonSet", "kube-proxy", {"component": "kube-proxy", "tier": "node"}, [
            _c("kube-proxy", f"oss/kubernetes/kube-proxy:{v}-hotfix.20240411", "100m", "0")],
            priority="system-node-critical", sa="kube-proxy", host_network=True),
        _workload("DaemonSet", "azure-ip-masq-agent", {"k8s-app": "azure-ip-masq-agent", "tier": "node"}, [
            _c("azure-ip-masq-agent", "aks/ip-masq-agent-v2:v0.1.11", "100m", "50Mi", "250Mi")],
            priority="system-node-critical", host_network=True),
        _workload("DaemonSet", "cloud-node-manager", {"k8s-app": "cloud-node-manager"}, [
            _c("cloud-node-manager", "oss/kubernetes/azure-cloud-node-manager:v1.29.8", "50m", "50Mi", "512Mi")],
            priority="system-node-critical", sa="cloud-node-manager", host_network=True),
        _workload("DaemonSet", "csi-azuredisk-node", {"app": "csi-azuredisk-node"}, [
            _c("liveness-probe", "oss/kubernetes-csi/livenessprobe:v2.12.0", "10m", "20Mi", "100Mi"),
            _c("node-driver-registrar", "oss/kubernetes-csi/csi-node-driver-registrar:v2.10.0", "10m", "20Mi", "100Mi"),
            _c("azuredisk", "oss/kubernetes-csi/azuredisk-csi:v1.29.5", "10m", "20Mi", "1000Mi")],
            priority="system-node-critical", sa="csi-azuredisk-node-sa", host_network=True),
        _workload("DaemonSet", "csi-azurefile-node", {"app": "csi-azurefile-node"}, [
            _c("liveness-probe", "oss/kubernetes-csi/livenessprobe:v2.12.0", "10m", "20Mi", "100Mi"),
            _c("node-driver-registrar", "oss/kubernetes-csi/csi-node-driver-registrar:v2.10.0", "10m", "20Mi", "100Mi"),
            _c("azurefile", "oss/kubernetes-csi/azurefile-csi:v1.29.5", "10m", "20Mi", "600Mi")],
            priority="system-node-critical", sa="csi-azurefile-node-sa", host_network=True),
    ]


def catalog() -> dict[str, list[str]]:
    """repository -> tags of the stand-in images, for the sandbox registry."""
    out: dict[str, list[str]] = {}
    for w in workloads():
        for c in w["spec"]["template"]["spec"]["containers"]:
            repo, tag = c["image"].rsplit(":", 1)
            out.setdefault(repo, []).append(tag)
    return out


SERVICE_ACCOUNTS = ("coredns", "coredns-autoscaler", "metrics-server", "konnectivity-agent", "kube-proxy", "cloud-node-manager",
                    "csi-azuredisk-node-sa", "csi-azurefile-node-sa", "kube-dns")


def _create(store, key: str, obj: dict) -> None:
    if store.get(key, obj["metadata"].get("namespace"), obj["metadata"]["name"]) is None:
        try:
            store.create(key, obj)
        except ApiError:
            pass


def ensure_system_workloads(cluster) -> None:
    store = cluster.store
    for name in SERVICE_ACCOUNTS:
        _create(store, "serviceaccounts", {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": NS, "labels": dict(ADDON)}})
    for w in workloads():
        apply_defaults(w["kind"], w)
        _create(store, "deployments.apps" if w["kind"] == "Deployment" else "daemonsets.apps", w)
    for name, labels, ports in (
        ("kube-dns", {"k8s-app": "kube-dns"}, [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53}, {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53}]),
        ("metrics-server", {"k8s-app": "metrics-server"}, [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": "https"}]),
    ):
        svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": NS, "labels": {**labels, **ADDON}},
               "spec": {"selector": labels, "ports": ports}}
        apply_defaults("Service", svc)
        _create(store, "services", svc)

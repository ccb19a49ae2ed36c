"""What a fresh cluster already has before anyone applies anything: the four system
namespaces, the nodes (shaped like AKS Standard_B2s spot nodes), the bootstrap RBAC and
priority classes, the default StorageClass `managed-csi` and the `kubernetes` Service (the
kube-system add-ons are controllers/system.py). Idempotent: run at every daemon start, it only
fills in what is missing (and refreshes node capacity and the API endpoint from config)."""

from __future__ import annotations

from tripgen_sandbox.apierrors import ApiError
from tripgen_sandbox.store import now_iso

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
REGION = "koreacentral"
POOL = "nodepool1"


def node_object(shape, kubernetes_version: str) -> dict:
    now = now_iso()
    pressure = [
        ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ]
    conditions = [
        {"type": t, "status": "False", "lastHeartbeatTime": now, "lastTransitionTime": now, "reason": r, "message": m}
        for t, r, m in pressure
    ]
    conditions.append({"type": "Ready", "status": "True", "lastHeartbeatTime": now, "lastTransitionTime": now,
                       "reason": "KubeletReady", "message": "kubelet is posting ready status"})
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": shape.name,
            "labels": {
                "agentpool": POOL,
                "beta.kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/instance-type": "Standard_B2s",
                "beta.kubernetes.io/os": "linux",
                "failure-domain.beta.kubernetes.io/region": REGION,
                "failure-domain.beta.kubernetes.io/zone": "0",
                "kubernetes.azure.com/agentpool": POOL,
                "kubernetes.azure.com/mode": "system",
                "kubernetes.azure.com/role": "agent",
                "kubernetes.azure.com/scalesetpriority": "spot",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/hostname": shape.name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/role": "agent",
                "node.kubernetes.io/instance-type": "Standard_B2s",
                "topology.kubernetes.io/region": REGION,
                "topology.kubernetes.io/zone": "0",
            },
            "annotations": {"node.alpha.kubernetes.io/ttl": "0", "volumes.kubernetes.io/controller-managed-attach-detach": "true"},
        },
        "spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"], "providerID": f"azure:///sandbox/virtualMachineScaleSets/{POOL}/{shape.name}"},
        "status": {
            "capacity": {"cpu": shape.cpu, "memory": shape.memory, "pods": shape.pods, "ephemeral-storage": shape.ephemeral_storage},
            "allocatable": {"cpu": shape.allocatable_cpu, "memory": shape.allocatable_memory, "pods": shape.pods,
                            "ephemeral-storage": shape.ephemeral_storage},
            "conditions": conditions,
            "addresses": [{"type": "InternalIP", "address": shape.ip}, {"type": "Hostname", "address": shape.name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "architecture": "amd64",
                "bootID": shape.name,
                "containerRuntimeVersion": "containerd://1.7.15-1",
                "kernelVersion": "5.15.0-1064-azure",
                "kubeProxyVersion": kubernetes_version,
                "kubeletVersion": kubernetes_version,
                "machineID": shape.name,
                "operatingSystem": "linux",
                "osImage": "Ubuntu 22.04.4 LTS",
                "systemUUID": shape.name,
            },
        },
    }


def _ensure(store, key: str, namespace: str | None, obj: dict) -> None:
    if store.get(key, namespace, obj["metadata"]["name"]) is None:
        try:
            store.create(key, obj)
        except ApiError:
            pass


PRIORITY_CLASSES = (
    ("system-cluster-critical", 2000000000, "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary."),
    ("system-node-critical", 2000001000, "Used for system critical pods that must not be moved from their current node."),
)


def ensure_bootstrap(cluster) -> None:
    from tripgen_sandbox.controllers.rbac import ensure_rbac

    store, config = cluster.store, cluster.config
    ensure_rbac(store)
    for name, value, description in PRIORITY_CLASSES:
        _ensure(store, "priorityclasses.scheduling.k8s.io", None, {"metadata": {"name": name}, "value": value, "globalDefault": False,
                                                                   "description": description, "preemptionPolicy": "PreemptLowerPriority"})
    for ns in SYSTEM_NAMESPACES:
        _ensure(store, "namespaces", None, {
            "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
    for shape in config.nodes:
        want = node_object(shape, config.kubernetes_version)
        if store.get("nodes", None, shape.name) is None:
            store.create("nodes", want)
            continue

        def refresh(o, want=want):  # config may have changed between runs
            o["status"]["capacity"] = want["status"]["capacity"]
            o["status"]["allocatable"] = want["status"]["allocatable"]
            o["status"]["addresses"] = want["status"]["addresses"]
            o["status"]["nodeInfo"] = want["status"]["nodeInfo"]

        store.mutate("nodes", None, shape.name, refresh, subresource="status")
    _ensure(store, "storageclasses.storage.k8s.io", None, {
        "metadata": {"name": "managed-csi", "labels": {"addonmanager.kubernetes.io/mode": "EnsureExists", "kubernetes.io/cluster-service": "true"},
                     "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "disk.csi.azure.com", "parameters": {"skuname": "StandardSSD_LRS"}, "reclaimPolicy": "Delete",
        "volumeBindingMode": "WaitForFirstConsumer", "allowVolumeExpansion": True})
    port = config.api_port or 443
    _ensure(store, "services", "default", {
        "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"type": "ClusterIP", "sessionAffinity": "None", "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
                 "internalTrafficPolicy": "Cluster", "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}]},
        "status": {"loadBalancer": {}}})
    svc = store.get("services", "default", "kubernetes")
    if svc is not None and [p.get("targetPort") for p in svc["spec"].get("ports") or []] != [port]:  # the API server moved

        def retarget(o):
            for p in o["spec"].get("ports") or []:
                p["targetPort"] = port

        store.mutate("services", "default", "kubernetes", retarget)
    # no selector: the endpoints controller leaves it alone; it points at the API server
    subsets = [{"addresses": [{"ip": config.api_host}], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}]
    ep = store.get("endpoints", "default", "kubernetes")
    if ep is None:
        _ensure(store, "endpoints", "default", {"metadata": {"name": "kubernetes", "namespace": "default",
                                                             "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
                                                "subsets": subsets})
    elif ep.get("subsets") != subsets:
        store.mutate("endpoints", "default", "kubernetes", lambda o: o.update(subsets=subsets))

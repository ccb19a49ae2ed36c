"""The service-account token a real kubelet mounts (via the kube-api-access projected volume the
ServiceAccount admission adds): token, ca.crt and namespace at
/var/run/secrets/kubernetes.io/serviceaccount, so a client's in-cluster configuration works
unchanged inside a pod and the API server can hold the pod to its ServiceAccount's RBAC."""

from __future__ import annotations

from pathlib import Path

from tripgen_sandbox.kubelet.volumes import write_files


MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
VOLUME_DIR = ".kube-api-access"  # a volume name cannot start with a dot: no clash with the spec's


def service_account(pod: dict) -> str:
    spec = pod.get("spec") or {}
    return spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"


def wanted(store, pod: dict) -> bool:
    """The pod's automountServiceAccountToken wins, then the ServiceAccount's; default true."""
    value = (pod.get("spec") or {}).get("automountServiceAccountToken")
    if value is None:
        sa = store.get("serviceaccounts", pod["metadata"]["namespace"], service_account(pod))
        value = (sa or {}).get("automountServiceAccountToken")
    return value is not False


def materialise(kubelet, pod: dict, pod_dir: Path) -> Path | None:
    """Write (or refresh) the token directory; None when the pod opts out or no token can be
    minted (an in-process kubelet without an API server)."""
    if not wanted(kubelet.store, pod):
        return None
    auth = getattr(kubelet.cluster, "auth", None)
    if auth is None:
        return None
    ns = pod["metadata"]["namespace"]
    token = auth.service_account_token(ns, service_account(pod))
    ca = kubelet.config.state_dir / "pki" / "ca.crt"
    files = {"token": token.encode(), "namespace": ns.encode()}
    if ca.exists():
        files["ca.crt"] = ca.read_bytes()
    target = pod_dir / "volumes" / VOLUME_DIR
    write_files(target, files, 0o644)
    return target


def needs_mount(container: dict) -> bool:
    """False when the container already mounts something at the token path (as the admission
    plugin, which then leaves that container alone)."""
    return all((vm.get("mountPath") or "").rstrip("/") != MOUNT_PATH for vm in container.get("volumeMounts") or [])

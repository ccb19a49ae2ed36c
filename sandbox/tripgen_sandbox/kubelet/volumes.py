"""Pod volumes as host directories: configMap and secret files (re-written on each container
start, so an updated ConfigMap is seen by the next run), PVCs under <state>/pvs/<ns>/<claim>/
(surviving the pod, a stop/start and scale 0 -> 1), emptyDir and downwardAPI in the pod's own
directory, and a projected service-account token."""

from __future__ import annotations

import base64
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

from tripgen_sandbox.kubelet.env import ContainerConfigError, field_value


class VolumeError(ContainerConfigError):
    """Shown as a FailedMount event; the pod stays ContainerCreating and is retried."""


def pvc_dir(state_dir: Path, namespace: str, claim: str) -> Path:
    return state_dir / "pvs" / namespace / claim


def _write_files(target: Path, files: dict[str, bytes], mode: int) -> None:
    """Update the directory in place the way the kubelet's AtomicWriter does: the content lives in
    a timestamped `..<ts>` directory, `..data` points at it and each top-level key is a symlink
    through `..data`. The directory itself never changes, so a container that bind-mounted it
    (private mount namespace) sees an updated ConfigMap or a new token, never an empty dir."""
    target.mkdir(parents=True, exist_ok=True)
    data_link = target / "..data"
    if not data_link.is_symlink():  # a plain directory from an older layout: start afresh
        for child in list(target.iterdir()):
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
    stamp = "..%s" % datetime.now(timezone.utc).strftime("%Y_%m_%d_%H_%M_%S.%f")
    fresh = target / stamp
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir()
    for rel, data in files.items():
        p = fresh / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        p.chmod(mode)
    tmp_link = target / "..data_tmp"
    tmp_link.unlink(missing_ok=True)
    tmp_link.symlink_to(stamp)
    os.replace(tmp_link, data_link)
    tops = {rel.split("/", 1)[0] for rel in files}
    for top in tops:
        link = target / top
        if not link.is_symlink():
            if link.is_dir():
                shutil.rmtree(link, ignore_errors=True)
            link.unlink(missing_ok=True)
            link.symlink_to(f"..data/{top}")
    for child in list(target.iterdir()):
        name = child.name
        if name.startswith(".."):
            if name not in ("..data", stamp) and child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
        elif name not in tops and child.is_symlink():
            child.unlink(missing_ok=True)


write_files = _write_files  # the service-account token volume uses the same writer


def _keyed(store, kind: str, namespace: str, src: dict) -> dict[str, bytes] | None:
    name = src.get("name") or src.get("secretName") or ""
    obj = store.get("secrets" if kind == "Secret" else "configmaps", namespace, name)
    if obj is None:
        if src.get("optional"):
            return None
        raise VolumeError(f'MountVolume.SetUp failed : {kind.lower()} "{name}" not found')
    data: dict[str, bytes] = {}
    if kind == "Secret":
        data.update({k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()})
        data.update({k: str(v).encode() for k, v in (obj.get("stringData") or {}).items()})
    else:
        data.update({k: str(v).encode() for k, v in (obj.get("data") or {}).items()})
        data.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
    items = src.get("items")
    if items:
        out = {}
        for it in items:
            if it.get("key") in data:
                out[it.get("path") or it["key"]] = data[it["key"]]
            elif not src.get("optional"):
                raise VolumeError(f"MountVolume.SetUp failed : configmap references non-existent config key: {it.get('key')}")
        return out
    return data


def materialise(kubelet, pod: dict, pod_dir: Path, pod_ip: str, host_ip: str) -> dict[str, Path]:
    """volume name -> host directory (or file, for subPath mounts resolved later)."""
    store = kubelet.store
    ns = pod["metadata"]["namespace"]
    out: dict[str, Path] = {}
    for vol in pod["spec"].get("volumes") or []:
        name = vol["name"]
        target = pod_dir / "volumes" / name
        if "persistentVolumeClaim" in vol:
            claim = vol["persistentVolumeClaim"].get("claimName", "")
            if store.get("persistentvolumeclaims", ns, claim) is None:
                raise VolumeError(f'persistentvolumeclaim "{claim}" not found')
            path = pvc_dir(kubelet.config.state_dir, ns, claim)
            path.mkdir(parents=True, exist_ok=True)
            out[name] = path
        elif "configMap" in vol or "secret" in vol:
            kind, src = ("ConfigMap", vol["configMap"]) if "configMap" in vol else ("Secret", vol["secret"])
            mode = int(src.get("defaultMode", 0o644))
            files = _keyed(store, kind, ns, src) or {}
            _write_files(target, files, mode)
            out[name] = target
        elif "projected" in vol:
            files: dict[str, bytes] = {}
            for source in vol["projected"].get("sources") or []:
                if "configMap" in source:
                    src = source["configMap"]
                    ca = kubelet.config.state_dir / "pki" / "ca.crt"
                    if src.get("name") == "kube-root-ca.crt" and store.get("configmaps", ns, "kube-root-ca.crt") is None and ca.exists():
                        files["ca.crt"] = ca.read_bytes()  # the publisher has not reached a brand-new namespace yet
                    else:
                        files.update(_keyed(store, "ConfigMap", ns, src) or {})
                elif "secret" in source:
                    files.update(_keyed(store, "Secret", ns, source["secret"]) or {})
                elif "serviceAccountToken" in source:
                    files[source["serviceAccountToken"].get("path", "token")] = _token(kubelet, pod).encode()
                elif "downwardAPI" in source:
                    files.update(_downward(source["downwardAPI"], pod, pod_ip, host_ip))
            _write_files(target, files, int(vol["projected"].get("defaultMode", 0o644)))
            out[name] = target
        elif "downwardAPI" in vol:
            _write_files(target, _downward(vol["downwardAPI"], pod, pod_ip, host_ip), 0o644)
            out[name] = target
        elif "hostPath" in vol:
            path = kubelet.config.state_dir / "hostpath" / vol["hostPath"].get("path", name).lstrip("/")
            path.mkdir(parents=True, exist_ok=True)
            out[name] = path
        else:  # emptyDir and anything the sandbox treats like it
            target.mkdir(parents=True, exist_ok=True)
            out[name] = target
    return out


def _downward(src: dict, pod: dict, pod_ip: str, host_ip: str) -> dict[str, bytes]:
    files = {}
    for item in src.get("items") or []:
        if "fieldRef" in item:
            files[item["path"]] = field_value(pod, item["fieldRef"].get("fieldPath", ""), pod_ip, host_ip).encode()
    return files


def _token(kubelet, pod: dict) -> str:
    auth = getattr(kubelet.cluster, "auth", None)
    if auth is None:
        return ""
    try:
        return auth.service_account_token(pod["metadata"]["namespace"], pod["spec"].get("serviceAccountName") or "default")
    except Exception:  # noqa: BLE001 - a token is optional in the sandbox
        return ""


def container_mounts(container: dict, volumes: dict[str, Path]) -> dict[str, Path]:
    """mountPath -> host path for one container (subPath resolved; created if missing)."""
    mounts: dict[str, Path] = {}
    for vm in container.get("volumeMounts") or []:
        base = volumes.get(vm.get("name", ""))
        if base is None:
            raise VolumeError(f"volume \"{vm.get('name')}\" not found in the pod spec")
        path = base
        if vm.get("subPath"):
            path = base / vm["subPath"]
            if not path.exists() and base.is_dir() and not (base / vm["subPath"]).suffix:
                path.mkdir(parents=True, exist_ok=True)
        mounts[vm["mountPath"]] = path
    return mounts

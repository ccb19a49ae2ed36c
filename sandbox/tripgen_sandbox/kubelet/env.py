"""Container environment as the kubelet builds it: envFrom first, then env in order with
$(VAR) expansion against what is defined so far; valueFrom secretKeyRef / configMapKeyRef /
fieldRef / resourceFieldRef. A missing Secret or key is CreateContainerConfigError."""

from __future__ import annotations

import base64
import re

from tripgen_sandbox.store import Store

_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.\-]*)\)")


class ContainerConfigError(Exception):
    """Shown as waiting reason CreateContainerConfigError with this message."""


def expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes $(VAR) expansion: defined names are replaced, $$ escapes, others stay."""

    def sub(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1)
        return env[name] if name in env else m.group(0)

    return _REF.sub(sub, value)


def _source(store: Store, kind: str, namespace: str, name: str, optional: bool) -> dict[str, str] | None:
    key = "secrets" if kind == "Secret" else "configmaps"
    obj = store.get(key, namespace, name)
    if obj is None:
        if optional:
            return None
        raise ContainerConfigError(f'{kind.lower()} "{name}" not found')
    out: dict[str, str] = {}
    if kind == "Secret":
        for k, v in (obj.get("data") or {}).items():
            out[k] = base64.b64decode(v).decode("utf-8", "replace")
        for k, v in (obj.get("stringData") or {}).items():
            out[k] = str(v)
    else:
        out.update({k: str(v) for k, v in (obj.get("data") or {}).items()})
        for k, v in (obj.get("binaryData") or {}).items():
            out[k] = base64.b64decode(v).decode("utf-8", "replace")
    return out


def field_value(pod: dict, path: str, pod_ip: str, host_ip: str) -> str:
    meta = pod.get("metadata", {})
    m = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
    if m:
        return str((meta.get(m.group(1)) or {}).get(m.group(2), ""))
    return {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": pod.get("spec", {}).get("nodeName", ""),
        "spec.serviceAccountName": pod.get("spec", {}).get("serviceAccountName", "default"),
        "status.podIP": pod_ip,
        "status.podIPs": pod_ip,
        "status.hostIP": host_ip,
        "status.hostIPs": host_ip,
    }.get(path, "")


def _resource_value(container: dict, ref: dict) -> str:
    from tripgenctl.quantity import parse as parse_quantity  # noqa: PLC0415

    res = ref.get("resource", "")
    section, _, kind = res.partition(".")
    value = ((container.get("resources") or {}).get(section) or {}).get(kind)
    if value is None:
        return "0"
    divisor = parse_quantity(str(ref.get("divisor", "1")))
    import math  # noqa: PLC0415

    return str(math.ceil(parse_quantity(str(value)) / divisor)) if divisor else "0"


def resolve_env(store: Store, pod: dict, container: dict, pod_ip: str, host_ip: str, base: dict[str, str] | None = None) -> dict[str, str]:
    namespace = pod["metadata"]["namespace"]
    env: dict[str, str] = dict(base or {})
    for src in container.get("envFrom") or []:
        prefix = src.get("prefix", "")
        for kind, field in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            ref = src.get(field)
            if ref:
                data = _source(store, kind, namespace, ref.get("name", ""), bool(ref.get("optional")))
                for k, v in (data or {}).items():
                    env[prefix + k] = v
    for item in container.get("env") or []:
        name = item.get("name")
        if not name:
            continue
        if "valueFrom" not in item:
            env[name] = expand(str(item.get("value", "")), env)
            continue
        vf = item["valueFrom"]
        if "secretKeyRef" in vf or "configMapKeyRef" in vf:
            kind, ref = ("Secret", vf["secretKeyRef"]) if "secretKeyRef" in vf else ("ConfigMap", vf["configMapKeyRef"])
            optional = bool(ref.get("optional"))
            data = _source(store, kind, namespace, ref.get("name", ""), optional)
            if data is None:
                continue
            if ref.get("key") not in data:
                if optional:
                    continue
                raise ContainerConfigError(f"couldn't find key {ref.get('key')} in {kind} {namespace}/{ref.get('name')}")
            env[name] = data[ref["key"]]
        elif "fieldRef" in vf:
            env[name] = field_value(pod, vf["fieldRef"].get("fieldPath", ""), pod_ip, host_ip)
        elif "resourceFieldRef" in vf:
            env[name] = _resource_value(container, vf["resourceFieldRef"])
    return env

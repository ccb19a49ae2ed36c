"""Server-side printing (meta.k8s.io Table) with the columns kubectl shows for each kind,
including the `-o wide` ones (priority 1)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable

from tripgenctl.timestamps import parse_time

Col = tuple[str, str, int, Callable[[dict], Any]]  # name, type, priority, getter


def age(ts: str | None) -> str:
    if not ts:
        return "<unknown>"
    t = parse_time(ts)
    if t is None:
        return "<unknown>"
    s = int((datetime.now(timezone.utc) - t).total_seconds())
    if s < 0:
        s = 0
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s"
    if m < 180:
        return f"{m}m"
    h = m // 60
    if h < 48:
        return f"{h}h{m % 60}m" if h < 8 else f"{h}h"
    return f"{h // 24}d"


def _age(o: dict) -> str:
    return age(o["metadata"].get("creationTimestamp"))


def pod_status_text(o: dict) -> str:
    if o["metadata"].get("deletionTimestamp"):
        return "Terminating"
    st = o.get("status", {})
    reason = st.get("reason") or st.get("phase") or "Pending"
    for i, cs in enumerate(st.get("initContainerStatuses") or []):
        state = cs.get("state", {})
        if "terminated" in state and state["terminated"].get("exitCode") == 0:
            continue
        if "waiting" in state and state["waiting"].get("reason") not in (None, "PodInitializing"):
            return f"Init:{state['waiting']['reason']}"
        if "terminated" in state:
            return f"Init:{state['terminated'].get('reason') or 'Error'}"
        return f"Init:{i}/{len(o.get('spec', {}).get('initContainers') or [])}"
    running = False
    for cs in reversed(st.get("containerStatuses") or []):
        state = cs.get("state", {})
        if "waiting" in state and state["waiting"].get("reason"):
            reason = state["waiting"]["reason"]
        elif "terminated" in state and state["terminated"].get("reason"):
            reason = state["terminated"]["reason"]
        elif "terminated" in state:
            reason = f"ExitCode:{state['terminated'].get('exitCode')}"
        elif "running" in state and cs.get("ready"):
            running = True
    if reason == "Completed" and running:
        reason = "Running"
    return reason


def _ready(o: dict) -> str:
    cs = o.get("status", {}).get("containerStatuses") or []
    total = len(o.get("spec", {}).get("containers") or [])
    return f"{sum(1 for c in cs if c.get('ready'))}/{total}"


def _restarts(o: dict) -> str:
    cs = o.get("status", {}).get("containerStatuses") or []
    return str(sum(c.get("restartCount", 0) for c in cs))


def _sel(sel: dict | None) -> str:
    if not sel:
        return "<none>"
    labels = sel.get("matchLabels", sel) if isinstance(sel, dict) else {}
    return ",".join(f"{k}={v}" for k, v in labels.items() if isinstance(v, str)) or "<none>"


def _images(o: dict) -> str:
    return ",".join(c.get("image", "") for c in o.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or [])


def _containers(o: dict) -> str:
    return ",".join(c.get("name", "") for c in o.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or [])


def _svc_ports(o: dict) -> str:
    ports = o.get("spec", {}).get("ports") or []
    return ",".join(f"{p.get('port')}{':' + str(p['nodePort']) if p.get('nodePort') else ''}/{p.get('protocol', 'TCP')}" for p in ports) or "<none>"


def _job_status(o: dict) -> str:
    for c in o.get("status", {}).get("conditions") or []:
        if c.get("status") == "True" and c.get("type") in ("Complete", "Failed", "Suspended"):
            return c["type"]
    return "Running"


def _duration(o: dict) -> str:
    st = o.get("status", {})
    start = st.get("startTime")
    end = st.get("completionTime")
    if not start:
        return ""
    if not end:
        return age(start)
    t0, t1 = parse_time(start), parse_time(end)
    if t0 is None or t1 is None:
        return ""
    s = int((t1 - t0).total_seconds())
    return f"{s}s" if s < 120 else f"{s // 60}m"


def _node_status(o: dict) -> str:
    ready = next((c for c in o.get("status", {}).get("conditions") or [] if c.get("type") == "Ready"), None)
    text = "Ready" if ready and ready.get("status") == "True" else "NotReady"
    if o.get("spec", {}).get("unschedulable"):
        text += ",SchedulingDisabled"
    return text


def _node_roles(o: dict) -> str:
    roles = [k.split("/", 1)[1] for k in (o["metadata"].get("labels") or {}) if k.startswith("node-role.kubernetes.io/")]
    return ",".join(roles) or "<none>"


def _endpoints(o: dict) -> str:
    addrs = []
    for s in o.get("subsets") or []:
        for a in s.get("addresses") or []:
            for p in s.get("ports") or [{}]:
                addrs.append(f"{a.get('ip')}:{p.get('port')}")
    if not addrs:
        return "<none>"
    return ",".join(addrs[:3]) + (f" + {len(addrs) - 3} more..." if len(addrs) > 3 else "")


def _cond(o: dict, t: str) -> dict:
    return next((c for c in o.get("status", {}).get("conditions") or [] if c.get("type") == t), {})


COLUMNS: dict[str, list[Col]] = {
    "Pod": [
        ("Name", "string", 0, lambda o: o["metadata"]["name"]),
        ("Ready", "string", 0, _ready),
        ("Status", "string", 0, pod_status_text),
        ("Restarts", "string", 0, _restarts),
        ("Age", "string", 0, _age),
        ("IP", "string", 1, lambda o: o.get("status", {}).get("podIP") or "<none>"),
        ("Node", "string", 1, lambda o: o.get("spec", {}).get("nodeName") or "<none>"),
        ("Nominated Node", "string", 1, lambda o: "<none>"),
        ("Readiness Gates", "string", 1, lambda o: "<none>"),
    ],
    "Deployment": [
        ("Name", "string", 0, lambda o: o["metadata"]["name"]),
        ("Ready", "string", 0, lambda o: f"{o.get('status', {}).get('readyReplicas', 0)}/{o.get('spec', {}).get('replicas', 0)}"),
        ("Up-to-date", "integer", 0, lambda o: o.get("status", {}).get("updatedReplicas", 0)),
        ("Available", "integer", 0, lambda o: o.get("status", {}).get("availableReplicas", 0)),
        ("Age", "string", 0, _age),
        ("Containers", "string", 1, _containers),
        ("Images", "string", 1, _images),
        ("Selector", "string", 1, lambda o: _sel(o.get("spec", {}).get("selector"))),
    ],
    "ReplicaSet": [
        ("Name", "string", 0, lambda o: o["metadata"]["name"]),
        ("Desired", "integer", 0, lambda o: o.get("spec", {}).get("replicas", 0)),
        ("Current", "integer", 0, lambda o: o.get("status", {}).get("replicas", 0)),
        ("Ready", "integer", 0, lambda o: o.get("status", {}).get("readyReplicas", 0)),
        ("Age", "string", 0, _age),
        ("Containers", "string", 1, _containers),
        ("Images", "string", 1, _images),
        ("Selector", "string", 1, lambda o: _sel(o.get("spec", {}).get("selector"))),
    ],
    "StatefulSet": [
        ("Name", "string", 0, lambda o: o["metadata"]["name"]),
        ("Ready", "string", 0, lambda o: f"{o.get('status', {}).get('readyReplicas', 0)}/{o.get('spec', {}).get('replicas', 0)}"),
        ("Age", "string", 0, _age),
        ("Containers", "string", 1, _containers),
        ("Images", "string", 1, _images),
    ],
    "Job": [
        ("Name", "string", 0, lambda o: o["metadata"]["name"]),
        ("Status", "string", 0, _job_status),
        ("Completions", "string", 0, lambda o: f"{o.get('status', {}).get('succeeded', 0)}/{o.get('spec', {}).get('completions', 1)}"),
        ("Duration", "string", 0, _duration),
        ("Age", "string", 0, _age),
        ("Containers", "string", 1, _containers),
        ("Images", "string", 1, _images),
    ],
    "CronJob": [
        ("Name", "string", 0, lambda o: o["metadata"]["name"]),
        ("Schedule", "string", 0, lambda o: o.get("spec", {}).get("schedule", "")),
        ("Timezone", "string", 0, lambda o: o.get("spec", {}).get("timeZone") or "<none>"),
        ("Suspend", "boolean", 0, lambda o: "True" if o.get("spec", {}).get("suspend") else "False"),
        ("Active", "integer", 0, lambda o: len(o.get("status", {}).get("active") or [])),
        ("Last Schedule", "string", 0, lambda o: age(o.get("status", {}).get("lastScheduleTime")) if o.get("status", {}).get("lastScheduleTime") else "<none>"),
        ("Age", "string", 0, _age),
    ],
    "Service": [
        ("Name", "string", 0, lambda o: o["metadata"]["name"]),
        ("Type", "string", 0, lambda o: o.get("spec", {}).get("type", "ClusterIP")),
        ("Cluster-IP", "string", 0, lambda o: o.get("spec", {}).get("clusterIP") or "<none>"),
        ("External-IP", "string", 0, lambda o: "<none>"),
        ("Port(s)", "string", 0, _svc_ports),
        ("Age", "string", 0, _age),
        ("Selector", "string", 1, lambda o: _sel(o.get("spec", {}).get("selector"))),
    ],
    "Endpoints": [
        ("Name", "string", 0, lambda o: o["metadata"]["name"]),
        ("Endpoints", "string", 0, _endpoints),
        ("Age", "string", 0, _age),
    ],
    "Node": [
        ("Name", "string", 0, lambda o: o["metadata"]["name"]),
        ("Status", "string", 0, _node_status),
        ("Roles", "string", 0, _node_roles),
        ("Age", "string", 0, _age),
        ("Version", "string", 0, lambda o: o.get("status", {}).get("nodeInfo", {}).get("kubeletVersion", "")),
        ("Internal-IP", "string", 1, lambda o: next((a["address"] for a in o.get("status", {}).get("addresses") or [] if a.get("type") == "InternalIP"), "<none>")),
        ("External-IP", "string", 1, lambda o: "<none>"),
        ("OS-Image", "string", 1, lambda o: o.get("status", {}).get("nodeInfo", {}).get("osImage", "")),
        ("Kernel-Version", "string", 1, lambda o: o.get("status", {}).get("nodeInfo", {}).get("kernelVersion", "")),
        ("Container-Runtime", "string", 1, lambda o: o.get("status", {}).get("nodeInfo", {}).get("containerRuntimeVersion", "")),
    ],
    "Namespace": [
        ("Name", "string", 0, lambda o: o["metadata"]["name"]),
        ("Status", "string", 0, lambda o: o.get("status", {}).get("phase", "Active")),
        ("Age", "string", 0, _age),
    ],
    "ConfigMap": [
        ("Name", "string", 0, lambda o: o["metadata"]["name"]),
        ("Data", "integer", 0, lambda o: len(o.get("data") or {}) + len(o.get("binaryData") or {})),
        ("Age", "string", 0, _age),
    ],
    "Secret": [
        ("Name", "string", 0, lambda o: o["metadata"]["name"]),
        ("Type", "string", 0, lambda o: o.get("type", "Opaque")),
        ("Data", "integer", 0, lambda o: len(o.get("data") or {})),
        ("Age", "string", 0, _age),
    ],
    "PersistentVolumeClaim": [
        ("Name", "string", 0, lambda o: o["metadata"]["name"]),
        ("Status", "string", 0, lambda o: o.get("status", {}).get("phase", "Pending")),
        ("Volume", "string", 0, lambda o: o.get("spec", {}).get("volumeName", "")),
        ("Capacity", "string", 0, lambda o: o.get("status", {}).get("capacity", {}).get("storage", "")),
        ("Access Modes", "string", 0, lambda o: ",".join({"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX"}.get(m, m) for m in o.get("status", {}).get("accessModes") or [])),
        ("StorageClass", "string", 0, lambda o: o.get("spec", {}).get("storageClassName") or "<unset>"),
        ("VolumeAttributesClass", "string", 0, lambda o: "<unset>"),
        ("Age", "string", 0, _age),
        ("VolumeMode", "string", 1, lambda o: o.get("spec", {}).get("volumeMode", "Filesystem")),
    ],
    "PersistentVolume": [
        ("Name", "string", 0, lambda o: o["metadata"]["name"]),
        ("Capacity", "string", 0, lambda o: o.get("spec", {}).get("capacity", {}).get("storage", "")),
        ("Access Modes", "string", 0, lambda o: ",".join({"ReadWriteOnce": "RWO"}.get(m, m) for m in o.get("spec", {}).get("accessModes") or [])),
        ("Reclaim Policy", "string", 0, lambda o: o.get("spec", {}).get("persistentVolumeReclaimPolicy", "")),
        ("Status", "string", 0, lambda o: o.get("status", {}).get("phase", "")),
        ("Claim", "string", 0, lambda o: (lambda r: f"{r.get('namespace')}/{r.get('name')}" if r else "")(o.get("spec", {}).get("claimRef"))),
        ("StorageClass", "string", 0, lambda o: o.get("spec", {}).get("storageClassName", "")),
        ("Age", "string", 0, _age),
    ],
    "Event": [
        ("Last Seen", "string", 0, lambda o: age(o.get("lastTimestamp") or o.get("eventTime"))),
        ("Type", "string", 0, lambda o: o.get("type", "")),
        ("Reason", "string", 0, lambda o: o.get("reason", "")),
        ("Object", "string", 0, lambda o: f"{o.get('involvedObject', {}).get('kind', '').lower()}/{o.get('involvedObject', {}).get('name', '')}"),
        ("Message", "string", 0, lambda o: o.get("message", "")),
    ],
    "ServiceAccount": [
        ("Name", "string", 0, lambda o: o["metadata"]["name"]),
        ("Secrets", "integer", 0, lambda o: len(o.get("secrets") or [])),
        ("Age", "string", 0, _age),
    ],
    "NetworkPolicy": [
        ("Name", "string", 0, lambda o: o["metadata"]["name"]),
        ("Pod-Selector", "string", 0, lambda o: _sel(o.get("spec", {}).get("podSelector"))),
        ("Age", "string", 0, _age),
    ],
    "Ingress": [
        ("Name", "string", 0, lambda o: o["metadata"]["name"]),
        ("Class", "string", 0, lambda o: o.get("spec", {}).get("ingressClassName") or "<none>"),
        ("Hosts", "string", 0, lambda o: ",".join(r.get("host", "*") for r in o.get("spec", {}).get("rules") or []) or "*"),
        ("Address", "string", 0, lambda o: ""),
        ("Ports", "string", 0, lambda o: "80, 443" if o.get("spec", {}).get("tls") else "80"),
        ("Age", "string", 0, _age),
    ],
    "Lease": [
        ("Name", "string", 0, lambda o: o["metadata"]["name"]),
        ("Holder", "string", 0, lambda o: o.get("spec", {}).get("holderIdentity", "")),
        ("Age", "string", 0, _age),
    ],
    "StorageClass": [
        ("Name", "string", 0, lambda o: o["metadata"]["name"] + (" (default)" if (o["metadata"].get("annotations") or {}).get("storageclass.kubernetes.io/is-default-class") == "true" else "")),
        ("Provisioner", "string", 0, lambda o: o.get("provisioner", "")),
        ("ReclaimPolicy", "string", 0, lambda o: o.get("reclaimPolicy", "Delete")),
        ("VolumeBindingMode", "string", 0, lambda o: o.get("volumeBindingMode", "Immediate")),
        ("AllowVolumeExpansion", "string", 0, lambda o: str(bool(o.get("allowVolumeExpansion", False))).lower()),
        ("Age", "string", 0, _age),
    ],
    "EndpointSlice": [
        ("Name", "string", 0, lambda o: o["metadata"]["name"]),
        ("AddressType", "string", 0, lambda o: o.get("addressType", "")),
        ("Ports", "string", 0, lambda o: ",".join(str(p.get("port")) for p in o.get("ports") or []) or "<unset>"),
        ("Endpoints", "string", 0, lambda o: ",".join(a for e in o.get("endpoints") or [] for a in e.get("addresses") or []) or "<unset>"),
        ("Age", "string", 0, _age),
    ],
    "ResourceQuota": [
        ("Name", "string", 0, lambda o: o["metadata"]["name"]),
        ("Age", "string", 0, _age),
        ("Request", "string", 0, lambda o: ", ".join(f"{k}: {o.get('status', {}).get('used', {}).get(k, '0')}/{v}" for k, v in (o.get("spec", {}).get("hard") or {}).items() if not k.startswith("limits."))),
        ("Limit", "string", 0, lambda o: ", ".join(f"{k}: {o.get('status', {}).get('used', {}).get(k, '0')}/{v}" for k, v in (o.get("spec", {}).get("hard") or {}).items() if k.startswith("limits."))),
    ],
    "PodDisruptionBudget": [
        ("Name", "string", 0, lambda o: o["metadata"]["name"]),
        ("Min Available", "string", 0, lambda o: str(o.get("spec", {}).get("minAvailable", "N/A"))),
        ("Max Unavailable", "string", 0, lambda o: str(o.get("spec", {}).get("maxUnavailable", "N/A"))),
        ("Allowed Disruptions", "integer", 0, lambda o: o.get("status", {}).get("disruptionsAllowed", 0)),
        ("Age", "string", 0, _age),
    ],
    "DaemonSet": [
        ("Name", "string", 0, lambda o: o["metadata"]["name"]),
        ("Desired", "integer", 0, lambda o: o.get("status", {}).get("desiredNumberScheduled", 0)),
        ("Current", "integer", 0, lambda o: o.get("status", {}).get("currentNumberScheduled", 0)),
        ("Ready", "integer", 0, lambda o: o.get("status", {}).get("numberReady", 0)),
        ("Up-to-date", "integer", 0, lambda o: o.get("status", {}).get("updatedNumberScheduled", 0)),
        ("Available", "integer", 0, lambda o: o.get("status", {}).get("numberAvailable", 0)),
        ("Node Selector", "string", 0, lambda o: ",".join(f"{k}={v}" for k, v in (o.get("spec", {}).get("template", {}).get("spec", {}).get("nodeSelector") or {}).items()) or "<none>"),
        ("Age", "string", 0, _age),
        ("Containers", "string", 1, _containers),
        ("Images", "string", 1, _images),
        ("Selector", "string", 1, lambda o: _sel(o.get("spec", {}).get("selector"))),
    ],
    "ReplicationController": [
        ("Name", "string", 0, lambda o: o["metadata"]["name"]),
        ("Desired", "integer", 0, lambda o: o.get("spec", {}).get("replicas", 0)),
        ("Current", "integer", 0, lambda o: o.get("status", {}).get("replicas", 0)),
        ("Ready", "integer", 0, lambda o: o.get("status", {}).get("readyReplicas", 0)),
        ("Age", "string", 0, _age),
        ("Containers", "string", 1, _containers),
        ("Images", "string", 1, _images),
        ("Selector", "string", 1, lambda o: ",".join(f"{k}={v}" for k, v in (o.get("spec", {}).get("selector") or {}).items())),
    ],
    "ClusterRole": [
        ("Name", "string", 0, lambda o: o["metadata"]["name"]),
        ("Created At", "date", 0, lambda o: o["metadata"].get("creationTimestamp")),
    ],
    "Role": [
        ("Name", "string", 0, lambda o: o["metadata"]["name"]),
        ("Created At", "date", 0, lambda o: o["metadata"].get("creationTimestamp")),
    ],
    "ClusterRoleBinding": [
        ("Name", "string", 0, lambda o: o["metadata"]["name"]),
        ("Role", "string", 0, lambda o: f"{o.get('roleRef', {}).get('kind')}/{o.get('roleRef', {}).get('name')}"),
        ("Age", "string", 0, _age),
        ("Users", "string", 1, lambda o: ", ".join(s["name"] for s in o.get("subjects") or [] if s.get("kind") == "User")),
        ("Groups", "string", 1, lambda o: ", ".join(s["name"] for s in o.get("subjects") or [] if s.get("kind") == "Group")),
        ("ServiceAccounts", "string", 1, lambda o: ", ".join(f"{s.get('namespace')}/{s['name']}" for s in o.get("subjects") or [] if s.get("kind") == "ServiceAccount")),
    ],
    "PriorityClass": [
        ("Name", "string", 0, lambda o: o["metadata"]["name"]),
        ("Value", "integer", 0, lambda o: o.get("value", 0)),
        ("Global-Default", "boolean", 0, lambda o: bool(o.get("globalDefault"))),
        ("Age", "string", 0, _age),
        ("PreemptionPolicy", "string", 1, lambda o: o.get("preemptionPolicy", "PreemptLowerPriority")),
    ],
    "RoleBinding": [
        ("Name", "string", 0, lambda o: o["metadata"]["name"]),
        ("Role", "string", 0, lambda o: f"{o.get('roleRef', {}).get('kind')}/{o.get('roleRef', {}).get('name')}"),
        ("Age", "string", 0, _age),
    ],
}
DEFAULT: list[Col] = [("Name", "string", 0, lambda o: o["metadata"]["name"]), ("Age", "string", 0, _age)]


def table(kind: str, items: list[dict], resource_version: str, include_object: str = "Metadata") -> dict:
    cols = COLUMNS.get(kind, DEFAULT)
    rows = []
    for o in items:
        cells = []
        for _, _, _, getter in cols:
            try:
                cells.append(getter(o))
            except Exception:  # noqa: BLE001 - a malformed object prints "<unknown>", not a 500
                cells.append("<unknown>")
        row: dict[str, Any] = {"cells": cells}
        if include_object == "Object":
            row["object"] = o
        elif include_object != "None":
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": o["metadata"],
            }
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": [
            {"name": n, "type": t, "format": "name" if n == "Name" else "", "description": n, "priority": p} for n, t, p, _ in cols
        ],
        "rows": rows,
    }

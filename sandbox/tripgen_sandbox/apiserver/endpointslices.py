"""discovery.k8s.io/v1 EndpointSlices as a read-only view of core/v1 Endpoints (the sandbox's
endpoints controller writes Endpoints only). kubectl >= 1.31 `describe service` reads its
Endpoints line from the slices labelled kubernetes.io/service-name."""

from __future__ import annotations

import hashlib
import uuid


def _suffix(name: str, i: int) -> str:
    return hashlib.sha1(f"{name}/{i}".encode()).hexdigest()[:5]


def to_slices(ep: dict) -> list[dict]:
    meta = ep["metadata"]
    svc = meta["name"]
    subsets = ep.get("subsets") or []
    out = []
    for i, subset in enumerate(subsets or [{}]):
        endpoints = []
        for ready, key in ((True, "addresses"), (False, "notReadyAddresses")):
            for a in subset.get(key) or []:
                e = {"addresses": [a.get("ip")], "conditions": {"ready": ready, "serving": ready, "terminating": False}}
                if a.get("nodeName"):
                    e["nodeName"] = a["nodeName"]
                if a.get("targetRef"):
                    e["targetRef"] = a["targetRef"]
                endpoints.append(e)
        # the endpointslice controller always sets name ("" for an unnamed port) and protocol; kubectl
        # dereferences both
        ports = [{"name": p.get("name", ""), "port": p.get("port"), "protocol": p.get("protocol", "TCP"), **({"appProtocol": p["appProtocol"]} if "appProtocol" in p else {})} for p in subset.get("ports") or []]
        name = f"{svc}-{_suffix(svc, i)}"
        out.append({
            "kind": "EndpointSlice",
            "apiVersion": "discovery.k8s.io/v1",
            "metadata": {
                "name": name,
                "generateName": f"{svc}-",
                "namespace": meta.get("namespace"),
                "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{meta.get('uid')}/{i}")),
                "resourceVersion": meta.get("resourceVersion"),
                "generation": 1,
                "creationTimestamp": meta.get("creationTimestamp"),
                "labels": {
                    **(meta.get("labels") or {}),
                    "kubernetes.io/service-name": svc,
                    "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                },
                "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": meta.get("creationTimestamp") or ""},
            },
            "addressType": "IPv4",
            "endpoints": endpoints or None,
            "ports": ports or None,
        })
    return out

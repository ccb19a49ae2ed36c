"""endpoint-controller: for every Service with a selector, an Endpoints object of the same
name listing the matching pods that have an IP: Ready ones under addresses, the others under
notReadyAddresses (all under addresses with publishNotReadyAddresses), each with ip, nodeName,
targetRef and hostname when the pod's subdomain is the service. Named targetPorts are resolved
per pod from its containers' ports, so pods with different port numbers land in different
subsets, as on a real cluster. Endpoints of a deleted Service go away with it; Services without
a selector are left alone (their Endpoints are the user's)."""

from __future__ import annotations

from tripgen_sandbox.apierrors import ApiError
from tripgen_sandbox.controllers.common import deleting, pod_ready, terminal
from tripgen_sandbox.controllers.manager import Controller
from tripgen_sandbox.selectors import match_label_selector_obj


def resolve_target(target, pod: dict) -> int | None:
    if target is None:
        return None
    if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
        return int(target)
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("name") == target:
                return int(p["containerPort"])
    return None


class EndpointsController(Controller):
    name = "endpoints"
    primary = "services"
    watches = ("pods", "endpoints")

    def keys_for(self, type_, key, obj):
        ns = obj["metadata"].get("namespace", "")
        if key == "pods":
            labels = obj["metadata"].get("labels") or {}
            for svc in self.store.iter("services", ns):
                sel = (svc.get("spec") or {}).get("selector")
                if sel and match_label_selector_obj({"matchLabels": sel}, labels):
                    yield (ns, svc["metadata"]["name"])
        elif key == "endpoints":
            if type_ != "ADDED":
                yield (ns, obj["metadata"]["name"])  # someone edited or deleted ours: restore it
        else:
            yield from super().keys_for(type_, key, obj)

    def reconcile(self, key) -> float | None:
        ns, name = key
        svc = self.store.get("services", ns, name)
        current = self.store.get("endpoints", ns, name)
        if svc is None or deleting(svc):
            if current is not None and svc is None and not (current["metadata"].get("labels") or {}).get("endpointslice.kubernetes.io/skip-mirror"):
                try:
                    self.store.delete("endpoints", ns, name)
                except ApiError:
                    pass
            return None
        spec = svc.get("spec") or {}
        selector = spec.get("selector")
        if not selector:
            return None
        publish_all = bool(spec.get("publishNotReadyAddresses"))
        groups: dict[tuple, dict] = {}
        pods = [p for p in self.store.iter("pods", ns)
                if match_label_selector_obj({"matchLabels": selector}, p["metadata"].get("labels"))
                and (p.get("status") or {}).get("podIP") and not terminal(p) and not deleting(p)]
        for p in sorted(pods, key=lambda p: ((p.get("status") or {}).get("podIP", ""), p["metadata"]["name"])):
            ports = []
            for sp in spec.get("ports") or []:
                number = resolve_target(sp.get("targetPort", sp.get("port")), p)
                if number is None:
                    continue
                port = {"port": number, "protocol": sp.get("protocol", "TCP")}
                if sp.get("name"):
                    port["name"] = sp["name"]
                if sp.get("appProtocol"):
                    port["appProtocol"] = sp["appProtocol"]
                ports.append(port)
            if spec.get("ports") and not ports:
                continue
            addr = {"ip": p["status"]["podIP"]}
            pspec = p.get("spec") or {}
            if pspec.get("hostname") and pspec.get("subdomain") == name:
                addr["hostname"] = pspec["hostname"]
            if pspec.get("nodeName"):
                addr["nodeName"] = pspec["nodeName"]
            addr["targetRef"] = {"kind": "Pod", "namespace": ns, "name": p["metadata"]["name"], "uid": p["metadata"]["uid"]}
            sig = tuple(sorted((pt.get("name", ""), pt["port"], pt["protocol"]) for pt in ports))
            group = groups.setdefault(sig, {"addresses": [], "notReadyAddresses": [], "ports": ports})
            group["addresses" if (publish_all or pod_ready(p)) else "notReadyAddresses"].append(addr)
        subsets = []
        for group in groups.values():
            subset = {k: v for k, v in group.items() if v}
            if subset.get("addresses") or subset.get("notReadyAddresses"):
                if not group["ports"]:
                    subset.pop("ports", None)
                subsets.append(subset)
        labels = dict(svc["metadata"].get("labels") or {})
        if spec.get("clusterIP") == "None":
            labels["service.kubernetes.io/headless"] = ""
        if current is None:
            obj = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name, "namespace": ns, "labels": labels}}
            if subsets:
                obj["subsets"] = subsets
            try:
                self.store.create("endpoints", obj)
            except ApiError:
                return 1.0
        elif (current.get("subsets") or []) != subsets or (current["metadata"].get("labels") or {}) != labels:
            def write(o):
                o["metadata"]["labels"] = labels
                if subsets:
                    o["subsets"] = subsets
                else:
                    o.pop("subsets", None)
            self.store.mutate("endpoints", ns, name, write)
        return None

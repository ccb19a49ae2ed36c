"""statefulset-controller: pods <name>-0..N-1 with stable identity (hostname, subdomain,
statefulset.kubernetes.io/pod-name, apps.kubernetes.io/pod-index, controller-revision-hash) and
one PVC per volumeClaimTemplate named <template>-<name>-<ordinal>, created when missing and kept
on scale-down and delete (whenDeleted/whenScaled: Retain, the default; Delete makes the set or
the pod their owner). OrderedReady creates ordinal i only when 0..i-1 are Running and Ready and
removes the highest ordinal first, one at a time; Parallel does both at once. A template change
rolls the pods from the highest ordinal down (delete, then recreate at the new revision), one at
a time and only while the others are Ready; OnDelete leaves that to the user."""

from __future__ import annotations

import copy

from tripgen_sandbox.apierrors import ApiError
from tripgen_sandbox.controllers.common import (
    controller_ref, create_pod, delete_pod, deleting, drop_empty, new_pod, owner_ref, phase, pod_available, pod_ready, ready_wait,
    safe_hash, terminal,
)
from tripgen_sandbox.controllers.manager import Controller

COMPONENT = "statefulset-controller"
REV = "controller-revision-hash"


def _ordinal(set_name: str, pod_name: str) -> int | None:
    prefix = set_name + "-"
    if not pod_name.startswith(prefix):
        return None
    tail = pod_name[len(prefix):]
    return int(tail) if tail.isdigit() else None


def _running_ready(pod: dict) -> bool:
    return phase(pod) == "Running" and pod_ready(pod) and not deleting(pod)


class StatefulSetController(Controller):
    name = "statefulsets"
    primary = "statefulsets.apps"
    watches = ("pods",)

    def keys_for(self, type_, key, obj):
        if key == "pods":
            ref = controller_ref(obj)
            if ref and ref.get("kind") == "StatefulSet":
                yield (obj["metadata"]["namespace"], ref["name"])
        else:
            yield from super().keys_for(type_, key, obj)

    def revision(self, sts: dict) -> str:
        return f"{sts['metadata']['name']}-{safe_hash(sts['spec'].get('template') or {})}"

    def _claims(self, sts: dict, pod_name: str, ordinal: int) -> list[dict]:
        """Ensure the pod's PVCs exist; return the pod volumes that mount them."""
        meta, spec = sts["metadata"], sts["spec"]
        ns, name = meta["namespace"], meta["name"]
        policy = spec.get("persistentVolumeClaimRetentionPolicy") or {}
        volumes = []
        for tmpl in spec.get("volumeClaimTemplates") or []:
            tname = tmpl["metadata"]["name"]
            claim = f"{tname}-{name}-{ordinal}"
            volumes.append({"name": tname, "persistentVolumeClaim": {"claimName": claim}})
            if self.store.get("persistentvolumeclaims", ns, claim) is not None:
                continue
            labels = {**((tmpl.get("metadata") or {}).get("labels") or {}), **((spec.get("selector") or {}).get("matchLabels") or {})}
            pvc_meta = {"name": claim, "namespace": ns, "labels": labels}
            if (tmpl.get("metadata") or {}).get("annotations"):
                pvc_meta["annotations"] = dict(tmpl["metadata"]["annotations"])
            if policy.get("whenDeleted") == "Delete":
                pvc_meta["ownerReferences"] = [dict(owner_ref(sts), controller=False)]
            pvc_spec = copy.deepcopy(tmpl.get("spec") or {})
            pvc_spec.setdefault("volumeMode", "Filesystem")
            try:
                self.store.create("persistentvolumeclaims", {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": pvc_meta,
                                                             "spec": pvc_spec, "status": {"phase": "Pending"}})
                self.store.record_event(sts, "SuccessfulCreate", f"create Claim {claim} Pod {pod_name} in StatefulSet {name} success", "Normal", COMPONENT)
            except ApiError as exc:
                self.store.record_event(sts, "FailedCreate", f"create Claim {claim} for Pod {pod_name} in StatefulSet {name} failed error: {exc.message}", "Warning", COMPONENT)
        return volumes

    def _create(self, sts: dict, ordinal: int, revision: str) -> None:
        name = sts["metadata"]["name"]
        pod_name = f"{name}-{ordinal}"
        claim_vols = self._claims(sts, pod_name, ordinal)
        labels = {REV: revision, "statefulset.kubernetes.io/pod-name": pod_name, "apps.kubernetes.io/pod-index": str(ordinal)}
        pod = new_pod(sts, sts["spec"].get("template") or {}, name=pod_name, labels=labels)
        spec = pod["spec"]
        if claim_vols:
            taken = {v["name"] for v in claim_vols}
            spec["volumes"] = [v for v in spec.get("volumes") or [] if v.get("name") not in taken] + claim_vols
        spec["hostname"] = pod_name
        if sts["spec"].get("serviceName"):
            spec["subdomain"] = sts["spec"]["serviceName"]
        create_pod(self.store, sts, pod, COMPONENT)

    def _condemn(self, sts: dict, pod: dict) -> None:
        """Delete a pod removed by scale-down; with whenScaled: Delete its claims go with it."""
        policy = sts["spec"].get("persistentVolumeClaimRetentionPolicy") or {}
        if policy.get("whenScaled") == "Delete":
            ordinal = _ordinal(sts["metadata"]["name"], pod["metadata"]["name"])
            for tmpl in sts["spec"].get("volumeClaimTemplates") or []:
                claim = f"{tmpl['metadata']['name']}-{sts['metadata']['name']}-{ordinal}"
                self.store.mutate("persistentvolumeclaims", sts["metadata"]["namespace"], claim,
                                  lambda o: o["metadata"].update(ownerReferences=[dict(owner_ref(pod), controller=False)]))
        delete_pod(self.store, sts, pod, COMPONENT)

    def reconcile(self, key) -> float | None:
        sts = self.get(key)
        if sts is None or deleting(sts):
            return None
        ns, name = key
        spec = sts.setdefault("spec", {})
        replicas = int(spec.get("replicas", 1))
        ordered = spec.get("podManagementPolicy", "OrderedReady") != "Parallel"
        revision = self.revision(sts)
        pods: dict[int, dict] = {}
        for p in self.store.iter("pods", ns):
            ref = controller_ref(p)
            if ref and ref.get("uid") == sts["metadata"]["uid"]:
                i = _ordinal(name, p["metadata"]["name"])
                if i is not None:
                    pods[i] = p
        # failed or finished pods are replaced, like the real controller does
        for i, p in list(pods.items()):
            if terminal(p) and not deleting(p):
                delete_pod(self.store, sts, p, COMPONENT)
        # create missing ordinals in range
        for i in range(replicas):
            p = pods.get(i)
            if p is None:
                self._create(sts, i, revision)
                if ordered:
                    break
                continue
            if ordered and not _running_ready(p):
                break
        # scale down: highest ordinal first
        extra = sorted((i for i in pods if i >= replicas), reverse=True)
        if extra:
            if ordered:
                if not any(deleting(pods[i]) for i in extra):
                    below_ok = all(_running_ready(pods[i]) for i in pods if i < replicas)
                    if below_ok or not any(i < replicas for i in pods):
                        self._condemn(sts, pods[extra[0]])
            else:
                for i in extra:
                    if not deleting(pods[i]):
                        self._condemn(sts, pods[i])
        # rolling update of the template
        strategy = spec.get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") == "RollingUpdate":
            partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
            in_range = {i: p for i, p in pods.items() if i < replicas}
            settled = len(in_range) == replicas and all(_running_ready(p) for p in in_range.values())
            stale = sorted((i for i, p in in_range.items() if i >= partition and (p["metadata"].get("labels") or {}).get(REV) != revision), reverse=True)
            if stale and (settled or not ordered):
                p = in_range[stale[0]]
                if not deleting(p):
                    delete_pod(self.store, sts, p, COMPONENT)
        return self._status(sts, revision, replicas)

    def _status(self, sts: dict, revision: str, replicas: int) -> float | None:
        ns, name = sts["metadata"]["namespace"], sts["metadata"]["name"]
        now = self.now()
        min_ready = int(sts["spec"].get("minReadySeconds") or 0)
        pods = [p for p in self.store.iter("pods", ns)
                if (controller_ref(p) or {}).get("uid") == sts["metadata"]["uid"] and not deleting(p) and not terminal(p)]
        old = sts.get("status") or {}
        current_rev = old.get("currentRevision") or revision
        updated = sum(1 for p in pods if (p["metadata"].get("labels") or {}).get(REV) == revision)
        current = sum(1 for p in pods if (p["metadata"].get("labels") or {}).get(REV) == current_rev)
        ready = sum(1 for p in pods if pod_ready(p))
        if updated == replicas and len(pods) == replicas and ready == replicas:
            current_rev, current = revision, updated
        status = drop_empty({
            "observedGeneration": sts["metadata"].get("generation", 1),
            "replicas": len(pods),
            "readyReplicas": ready,
            "currentReplicas": current,
            "updatedReplicas": updated,
            "availableReplicas": sum(1 for p in pods if pod_available(p, min_ready, now)),
            "currentRevision": current_rev,
            "updateRevision": revision,
        }, keep=("replicas", "availableReplicas"))
        status["collisionCount"] = old.get("collisionCount", 0)
        if old != status:
            self.store.mutate("statefulsets.apps", ns, name, lambda o: o.update(status=status), subresource="status")
        waits = [w for w in (ready_wait(p, min_ready, now) for p in pods) if w is not None]
        return min(waits) if waits else None

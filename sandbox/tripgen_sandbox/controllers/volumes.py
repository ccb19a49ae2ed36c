"""persistentvolume-binder plus the disk.csi.azure.com provisioner: every PVC is bound at
once to a freshly provisioned PV named pvc-<claim uid> (the real class waits for the first
consumer; binding immediately keeps `kubectl get pvc` simple and changes nothing a client can
see once a pod uses it). A PV whose claim is gone is deleted (reclaimPolicy Delete) or marked
Released (Retain). The data itself lives under <state>/pvs/<ns>/<claim>/, the kubelet's business."""

from __future__ import annotations

from tripgen_sandbox.apierrors import ApiError
from tripgen_sandbox.controllers.manager import Controller

DEFAULT_CLASS = "managed-csi"
PROVISIONER = "disk.csi.azure.com"


def default_class(store) -> str:
    for sc in store.iter("storageclasses.storage.k8s.io"):
        if (sc["metadata"].get("annotations") or {}).get("storageclass.kubernetes.io/is-default-class") == "true":
            return sc["metadata"]["name"]
    return DEFAULT_CLASS


class PersistentVolumeController(Controller):
    name = "persistentvolumes"
    primary = "persistentvolumeclaims"
    watches = ("persistentvolumes",)

    def keys_for(self, type_, key, obj):
        if key == "persistentvolumes":
            ref = (obj.get("spec") or {}).get("claimRef") or {}
            if ref.get("name"):
                yield (ref.get("namespace", ""), ref["name"])
            yield ("", "")  # the PV sweep
        else:
            yield from super().keys_for(type_, key, obj)

    def resync_keys(self):
        return list(super().resync_keys()) + [("", "")]

    def reconcile(self, key) -> float | None:
        if key == ("", ""):
            self._sweep_volumes()
            return None
        pvc = self.get(key)
        if pvc is None or pvc["metadata"].get("deletionTimestamp"):
            return None
        status = pvc.get("status") or {}
        spec = pvc.get("spec") or {}
        if status.get("phase") == "Bound" and spec.get("volumeName"):
            return None
        meta = pvc["metadata"]
        ns, name = meta["namespace"], meta["name"]
        pv_name = spec.get("volumeName") or f"pvc-{meta['uid']}"
        size = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
        modes = spec.get("accessModes") or ["ReadWriteOnce"]
        sc = spec.get("storageClassName") or default_class(self.store)
        if self.store.get("persistentvolumes", None, pv_name) is None:
            try:
                self.store.create("persistentvolumes", {
                    "metadata": {"name": pv_name, "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER,
                                                                   "volume.kubernetes.io/provisioner-deletion-secret-name": "",
                                                                   "volume.kubernetes.io/provisioner-deletion-secret-namespace": ""}},
                    "spec": {"capacity": {"storage": size}, "accessModes": modes, "persistentVolumeReclaimPolicy": "Delete",
                             "storageClassName": sc, "volumeMode": spec.get("volumeMode", "Filesystem"),
                             "claimRef": {"kind": "PersistentVolumeClaim", "namespace": ns, "name": name, "uid": meta["uid"],
                                          "apiVersion": "v1", "resourceVersion": meta.get("resourceVersion")},
                             "csi": {"driver": PROVISIONER, "volumeHandle": f"/subscriptions/sandbox/resourceGroups/mc_tripgen/providers/Microsoft.Compute/disks/{pv_name}",
                                     "fsType": "ext4", "volumeAttributes": {"csi.storage.k8s.io/pv/name": pv_name,
                                                                            "csi.storage.k8s.io/pvc/name": name, "csi.storage.k8s.io/pvc/namespace": ns}}},
                    "status": {"phase": "Bound"}})
            except ApiError:
                return 1.0
            self.store.record_event(pvc, "ProvisioningSucceeded", f'Successfully provisioned volume {pv_name}', "Normal",
                                    f"{PROVISIONER}_sandbox")

        def bind(o):
            o["spec"]["volumeName"] = pv_name
            o["spec"].setdefault("storageClassName", sc)
            ann = o["metadata"].setdefault("annotations", {})
            ann["pv.kubernetes.io/bind-completed"] = "yes"
            ann["pv.kubernetes.io/bound-by-controller"] = "yes"
            ann["volume.beta.kubernetes.io/storage-provisioner"] = PROVISIONER
            ann["volume.kubernetes.io/storage-provisioner"] = PROVISIONER

        self.store.mutate("persistentvolumeclaims", ns, name, bind)
        self.store.mutate("persistentvolumeclaims", ns, name,
                          lambda o: o.update(status={"phase": "Bound", "accessModes": modes, "capacity": {"storage": size}}),
                          subresource="status")
        return None

    def _sweep_volumes(self) -> None:
        for pv in list(self.store.iter("persistentvolumes")):
            ref = (pv.get("spec") or {}).get("claimRef") or {}
            if not ref.get("name"):
                continue
            claim = self.store.get("persistentvolumeclaims", ref.get("namespace"), ref["name"])
            if claim is not None and claim["metadata"]["uid"] == ref.get("uid"):
                continue
            name = pv["metadata"]["name"]
            if (pv.get("spec") or {}).get("persistentVolumeReclaimPolicy", "Delete") == "Delete":
                try:
                    self.store.delete("persistentvolumes", None, name)
                except ApiError:
                    pass
            elif (pv.get("status") or {}).get("phase") != "Released":
                self.store.mutate("persistentvolumes", None, name, lambda o: o.update(status={"phase": "Released"}), subresource="status")

"""Changes a real API server refuses to apply in place, found by comparing the manifest with the
live object before anything is sent (a server that does not refuse them, or a dry run that
cannot see them, must not decide): a StatefulSet's spec outside replicas/template/
updateStrategy/minReadySeconds/ordinals/persistentVolumeClaimRetentionPolicy (so its
volumeClaimTemplates, selector, serviceName), a Deployment's or Job's selector, a Job's
template, a RoleBinding's roleRef, a claim's or volume's source, an immutable ConfigMap/Secret.
Each comes with what recreating it does to the data, in words for the plan."""

from __future__ import annotations

from tripgenctl.ops import diff as d

STATEFULSET_MUTABLE = {"replicas", "ordinals", "template", "updateStrategy", "persistentVolumeClaimRetentionPolicy", "minReadySeconds"}
PV_SOURCES = ("hostPath", "local", "csi", "nfs", "azureDisk", "azureFile", "iscsi", "fc", "gcePersistentDisk", "awsElasticBlockStore")
HOLDS_DATA = ("PersistentVolumeClaim", "PersistentVolume")
RECREATABLE = ("StatefulSet", "Deployment", "Job", "RoleBinding", "ClusterRoleBinding", "ConfigMap", "Secret", "Service")


def _paths(desired, live, path: str) -> list[str]:
    return [p for p, _change, _d, _l in d.compare(desired, live, path)]


def changes(desired: dict, live: dict) -> list[str]:
    """Field paths of the manifest that differ from the live object and cannot be updated."""
    kind = desired.get("kind")
    want, have = desired.get("spec") or {}, (d.normalize(live).get("spec") or {})
    out: list[str] = []
    if kind == "StatefulSet":
        for key, value in want.items():
            if key not in STATEFULSET_MUTABLE:
                out += _paths(value, have.get(key), f"spec.{key}")
    elif kind in ("Deployment", "ReplicaSet", "DaemonSet"):
        if "selector" in want:
            out += _paths(want["selector"], have.get("selector"), "spec.selector")
    elif kind == "Job":
        for key in ("selector", "template"):
            if key in want:
                out += _paths(want[key], have.get(key), f"spec.{key}")
    elif kind in ("RoleBinding", "ClusterRoleBinding"):
        out += _paths(desired.get("roleRef"), live.get("roleRef"), "roleRef")
    elif kind == "PersistentVolumeClaim":
        for key, value in want.items():
            if key != "resources":  # a larger request is an expansion, which is allowed
                out += _paths(value, have.get(key), f"spec.{key}")
    elif kind == "PersistentVolume":
        for key in PV_SOURCES:
            if key in want:
                out += _paths(want[key], have.get(key), f"spec.{key}")
    elif kind in ("ConfigMap", "Secret") and live.get("immutable"):
        for key in ("data", "binaryData", "stringData"):
            if key in desired:
                out += _paths(desired[key], live.get(key), key)
    elif kind == "Service" and want.get("clusterIP"):
        out += _paths(want.get("clusterIP"), have.get("clusterIP"), "spec.clusterIP")
    return out


def claims_of(live_sts: dict, existing_claims: set[str]) -> list[str]:
    """The PersistentVolumeClaims a StatefulSet's pods use (<template>-<set>-<ordinal>) that exist."""
    spec = live_sts.get("spec") or {}
    name = live_sts["metadata"]["name"]
    replicas = max(int(spec.get("replicas", 1) or 0), 1)
    start = int(((spec.get("ordinals") or {}).get("start")) or 0)
    out = []
    for t in spec.get("volumeClaimTemplates") or []:
        for i in range(start, start + replicas):
            claim = f"{(t.get('metadata') or {}).get('name')}-{name}-{i}"
            if claim in existing_claims:
                out.append(claim)
    return out


def consequence(desired: dict, live: dict, paths: list[str], existing_claims: set[str]) -> str:
    """What recreating the object means, for the plan."""
    kind = desired.get("kind")
    if kind in HOLDS_DATA:
        return ("holds data: deploy never deletes it; move the data by hand (tripgenctl db backup, delete the claim, deploy, "
                "tripgenctl db restore)")
    if kind == "StatefulSet":
        claims = claims_of(live, existing_claims)
        kept = f"claims {', '.join(claims)} are kept and reused as they are" if claims else "it has no claims yet"
        vct = any(p.startswith("spec.volumeClaimTemplates") for p in paths)
        tail = ("; the new volumeClaimTemplates apply only to claims created later (to move the data: tripgenctl db backup, "
                "delete the claim, deploy, tripgenctl db restore)") if vct and claims else ""
        return f"--recreate deletes it with --cascade=orphan and creates it again: its pods run on until the new one replaces them; {kept}{tail}"
    if kind == "Deployment":
        return "--recreate deletes it and creates it again: its pods are replaced (Deployments here hold no data)"
    if kind == "Job":
        return "--recreate deletes the Job and its pods and runs it again"
    return "--recreate deletes it and creates it again"


def data_note(desired: dict, live: dict) -> str:
    """A template change that is allowed but moves a StatefulSet off its data: another image, or a
    volume of its claims mounted at another path (the new pod starts on the same claim and looks
    for its data elsewhere: the issue's 'apps saw an empty database')."""
    if desired.get("kind") != "StatefulSet":
        return ""
    claims = {(t.get("metadata") or {}).get("name") for t in (desired.get("spec") or {}).get("volumeClaimTemplates") or []}

    def mounts(obj: dict) -> dict[tuple[str, str], tuple[str, str]]:
        pod = (((obj.get("spec") or {}).get("template") or {}).get("spec") or {})
        out = {}
        for c in pod.get("containers") or []:
            out[(c.get("name"), "image")] = ("image", c.get("image") or "")
            for m in c.get("volumeMounts") or []:
                if m.get("name") in claims:
                    out[(c.get("name"), m["name"])] = ("mount", m.get("mountPath") or "")
        return out

    want, have = mounts(desired), mounts(live)
    notes = []
    for key, (what, value) in want.items():
        old = have.get(key, (what, ""))[1]
        repo = lambda image: image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image  # noqa: E731
        if old and (value != old if what == "mount" else repo(value) != repo(old)):  # a new tag of the same image is no move
            notes.append(f"{'image' if what == 'image' else 'data path'} {old} -> {value}")
    if not notes or not claims:
        return ""
    return "; ".join(notes) + ": the pod restarts on the same claim and the new container may not find the data there (take a backup first: tripgenctl db backup)"

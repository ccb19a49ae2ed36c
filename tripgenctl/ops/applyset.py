"""What `deploy` owns, as a Kubernetes ApplySet (KEP-3659, the scheme `kubectl apply --prune
--applyset` uses): a parent ConfigMap `tripgenctl-applyset` in the namespace carries the set's id
label and the group-kinds it contains; every object deploy applies carries the label
`applyset.kubernetes.io/part-of=<id>`. So "ours and no longer in the manifests" is a label query
per group-kind, not a guess from `managed-by` (which the Secrets, the schedule's objects and the
data-init Jobs carry too, and which deploy must never delete).

Volumes (PersistentVolume, PersistentVolumeClaim) and the Namespace are never pruned: they hold
data or everything; they are listed as kept instead."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from tripgenctl import __version__
from tripgenctl.kube import resources
from tripgenctl.kube.errors import Conflict

PARENT_KIND = "ConfigMap"
PARENT_NAME = "tripgenctl-applyset"
ID_LABEL = "applyset.kubernetes.io/id"
PART_OF = "applyset.kubernetes.io/part-of"
TOOLING = "applyset.kubernetes.io/tooling"
GROUP_KINDS = "applyset.kubernetes.io/contains-group-kinds"
NEVER_PRUNED = ("Namespace", "PersistentVolume", "PersistentVolumeClaim")


def set_id(namespace: str) -> str:
    """The KEP's id: base64url(sha256("<name>.<namespace>.<kind>.<group>")), unpadded."""
    digest = hashlib.sha256(f"{PARENT_NAME}.{namespace}.{PARENT_KIND}.".encode()).digest()
    return f"applyset-{base64.urlsafe_b64encode(digest).decode().rstrip('=')}-v1"


def group_kind(obj: dict) -> str:
    """Kind.group as the annotation spells it (core kinds: Kind alone)."""
    api = obj.get("apiVersion", "v1")
    group = api.split("/", 1)[0] if "/" in api else ""
    return f"{obj['kind']}.{group}" if group else obj["kind"]


def mark(obj: dict, namespace: str) -> dict:
    """The object with the membership label (a copy)."""
    import copy

    out = copy.deepcopy(obj)
    out.setdefault("metadata", {}).setdefault("labels", {})[PART_OF] = set_id(namespace)
    return out


def parent(namespace: str, group_kinds: set[str]) -> dict:
    return {
        "apiVersion": "v1",
        "kind": PARENT_KIND,
        "metadata": {
            "name": PARENT_NAME,
            "namespace": namespace,
            "labels": {ID_LABEL: set_id(namespace), "app.kubernetes.io/part-of": "tripgen", "app.kubernetes.io/managed-by": "tripgenctl"},
            "annotations": {TOOLING: f"tripgenctl/v{__version__}", GROUP_KINDS: ",".join(sorted(group_kinds))},
        },
    }


def recorded_group_kinds(kube, namespace: str) -> set[str]:
    """The group-kinds the parent says the set contains (empty without a parent)."""
    obj = resources.get(kube, "v1", PARENT_KIND, PARENT_NAME, namespace)
    if obj is None:
        return set()
    text = ((obj.get("metadata") or {}).get("annotations") or {}).get(GROUP_KINDS) or ""
    return {gk for gk in text.split(",") if gk}


@dataclass
class Member:
    api_version: str
    kind: str
    name: str
    namespace: str | None
    uid: str

    @property
    def ref(self) -> str:
        return f"{self.kind.lower()}/{self.name}"

    @property
    def group_kind(self) -> str:
        return group_kind({"apiVersion": self.api_version, "kind": self.kind})


def members(kube, namespace: str, group_kinds: set[str]) -> list[Member]:
    """Every object of those group-kinds carrying this set's label (namespaced ones in the
    namespace, cluster-scoped ones anywhere: the id is unique to the namespace)."""
    selector = {PART_OF: set_id(namespace)}
    out: list[Member] = []
    for gk in sorted(group_kinds):
        kind, _, group = gk.partition(".")
        api_version = resources.preferred_version(kube, group)
        if api_version is None:
            continue  # the group is no longer served: nothing of it can be left
        if not resources.served(kube, api_version, kind):
            continue  # the kind is not served (any more)
        # missing_ok: the namespace does not exist yet
        found = resources.items(kube, api_version, kind, namespace, selector, missing_ok=True, what=f"list {gk} of the applyset")
        for item in found:
            meta = item.get("metadata") or {}
            if meta.get("deletionTimestamp"):
                continue
            out.append(Member(api_version, kind, meta["name"], meta.get("namespace"), meta.get("uid", "")))
    return out


def delete(kube, member: Member) -> None:
    """Delete one pruned member, only if it is still the object we listed (uid precondition)."""
    try:  # gone already: fine
        resources.delete(kube, member.api_version, member.kind, member.name, member.namespace, uid=member.uid, what=f"prune {member.ref}")
    except Conflict:
        return  # replaced meanwhile by another object of that name: not ours to delete

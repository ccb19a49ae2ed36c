"""GitOps controllers that would put the replicas back after `down`: Argo CD Applications
(argoproj.io) whose destination is the environment's namespace, and Flux Kustomizations /
HelmReleases (kustomize.toolkit.fluxcd.io, helm.toolkit.fluxcd.io) that apply to it. With
automated sync and self-heal Argo reverts `down` within minutes (argo-cd #8207), so `down`
turns the automation off first (Argo: spec.syncPolicy.automated removed; Flux: spec.suspend
true) and `up` puts it back after the workloads are up, through ops/controls.py's ledger.

A cluster without these CRDs simply has none. One where they exist but the Applications cannot
be read or patched is a refusal: scaling under a self-healing controller saves nothing."""

from __future__ import annotations

from dataclasses import dataclass, field

from tripgenctl.ops import controls
from tripgenctl.ops.controls import Control

ARGO_GROUP = "argoproj.io"
KUSTOMIZE_GROUP = "kustomize.toolkit.fluxcd.io"
HELM_GROUP = "helm.toolkit.fluxcd.io"
AUTOMATED: controls.Path = ("spec", "syncPolicy", "automated")
SUSPEND: controls.Path = ("spec", "suspend")


@dataclass
class Found:
    controls: list[Control] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # could not look: a down must refuse (or --ignore-gitops)


def _argo_targets(app: dict, namespace: str) -> bool:
    dest = (app.get("spec") or {}).get("destination") or {}
    return dest.get("namespace") == namespace


def _flux_targets(obj: dict, namespace: str) -> bool:
    """targetNamespace, else the object's own namespace (where Flux puts namespace-less
    manifests), else an inventory entry in the namespace (ids are ns_name_group_kind)."""
    spec = obj.get("spec") or {}
    if spec.get("targetNamespace"):
        return spec["targetNamespace"] == namespace
    if (obj.get("metadata") or {}).get("namespace") == namespace:
        return True
    entries = ((obj.get("status") or {}).get("inventory") or {}).get("entries") or []
    return any(str(e.get("id", "")).split("_", 1)[0] == namespace for e in entries if isinstance(e, dict))


def _argo_now(value) -> str:
    if not isinstance(value, dict):
        return "manual sync"
    flags = [k for k in ("selfHeal", "prune", "allowEmpty") if value.get(k)]
    return f"automated ({', '.join(flags)})" if flags else "automated"


def _control(obj: dict, kind: str, group: str, plural: str, version: str, pause: dict, now: str) -> Control:
    meta = obj["metadata"]
    c = Control(kind, meta["namespace"], meta["name"], f"{group}/{version}", group, plural, "gitops", now, pause=pause)
    controls.refresh_from(c, obj)
    return c


def find(kube, namespace: str, argo_namespaces: list[str], flux_namespaces: list[str]) -> Found:
    """Every Application / Kustomization / HelmRelease managing the namespace whose automation is
    on now or was turned off by a previous down (a ledger on it)."""
    found = Found()
    versions: dict = {}
    argo = controls.served_version(kube, ARGO_GROUP, versions)
    if argo:
        for ns in argo_namespaces:
            items, why = controls.list_objects(kube, f"{ARGO_GROUP}/{argo}", "applications", ns)
            if why:
                found.problems.append(f"cannot list Argo CD applications in namespace {ns}: {why}")
            for app in items or []:
                if not _argo_targets(app, namespace):
                    continue
                automated = controls.get_path(app, AUTOMATED)
                if automated is None and controls.ledger_of(app) is None:
                    continue  # manual sync: nothing reverts a down
                found.controls.append(_control(app, "Application", ARGO_GROUP, "applications", argo, {AUTOMATED: None}, _argo_now(automated)))
    for group, kind, plural in ((KUSTOMIZE_GROUP, "Kustomization", "kustomizations"), (HELM_GROUP, "HelmRelease", "helmreleases")):
        version = controls.served_version(kube, group, versions)
        if not version:
            continue
        for ns in dict.fromkeys([*flux_namespaces, namespace]):
            items, why = controls.list_objects(kube, f"{group}/{version}", plural, ns)
            if why:
                found.problems.append(f"cannot list Flux {plural} in namespace {ns}: {why}")
            for obj in items or []:
                if not _flux_targets(obj, namespace):
                    continue
                suspended = bool(controls.get_path(obj, SUSPEND))
                if suspended and controls.ledger_of(obj) is None:
                    continue  # suspended by someone else: it stays so, and reverts nothing
                found.controls.append(_control(obj, kind, group, plural, version, {SUSPEND: True}, "suspended" if suspended else "reconciling"))
    return found


def check_permissions(kube, found: Found) -> list[str]:
    """Why down may not go on: each Application etc. it could not patch, and each place it could
    not look. Empty: every GitOps object can be paused."""
    cache: dict = {}
    why = list(found.problems)
    for c in found.controls:
        if not c.needs_pause:
            c.allowed = True
            continue
        allowed, reason = controls.may_patch(kube, c.namespace, c.group, c.plural, cache)
        c.allowed = allowed
        if not allowed:
            why.append(f"not allowed to patch {c.plural}.{c.group} in namespace {c.namespace} ({c.kind} {c.name} would put the replicas back)"
                       + (f": {reason}" if reason else ""))
    return why

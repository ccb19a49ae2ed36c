"""The RBAC a fresh 1.29 cluster has: the bootstrap ClusterRoles and ClusterRoleBindings
(data/bootstrap-rbac.yaml, created at start when missing, as kube-apiserver's
rbac/bootstrap-roles post-start hook does), and the clusterrole-aggregation controller that
fills admin/edit/view from every ClusterRole labelled to aggregate into them. The sandbox's
authorizer (apiserver/auth.py) enforces these rules like any other."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

from tripgen_sandbox.apierrors import ApiError
from tripgen_sandbox.controllers.manager import Controller
from tripgen_sandbox.selectors import match_label_selector_obj

KEY_ROLES = "clusterroles.rbac.authorization.k8s.io"
KEY_BINDINGS = "clusterrolebindings.rbac.authorization.k8s.io"
BOOTSTRAP_LABELS = {"kubernetes.io/bootstrapping": "rbac-defaults"}
AUTOUPDATE = {"rbac.authorization.kubernetes.io/autoupdate": "true"}


@lru_cache(maxsize=1)
def _data() -> dict:
    return yaml.safe_load((Path(__file__).parent.parent / "data" / "bootstrap-rbac.yaml").read_text())


def _rule(spec: dict) -> dict:
    if "n" in spec:
        urls, verbs = spec["n"]
        return {"nonResourceURLs": list(urls), "verbs": list(verbs)}
    groups, res, verbs = spec["r"]
    rule = {"apiGroups": list(groups), "resources": list(res), "verbs": list(verbs)}
    if spec.get("names"):
        rule["resourceNames"] = list(spec["names"])
    return rule


def cluster_roles() -> list[dict]:
    out = []
    for name, spec in _data()["clusterroles"].items():
        role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": name, "labels": dict(BOOTSTRAP_LABELS, **(spec.get("labels") or {})), "annotations": dict(AUTOUPDATE)}}
        if spec.get("aggregate"):
            role["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": {f"rbac.authorization.k8s.io/aggregate-to-{spec['aggregate']}": "true"}}]}
            role["rules"] = []
        else:
            role["rules"] = [_rule(r) for r in spec.get("rules") or []]
        out.append(role)
    return out


def cluster_role_bindings() -> list[dict]:
    out = []
    for name, (role, subjects) in _data()["clusterrolebindings"].items():
        subs = []
        for s in subjects:
            sub = {"kind": s[0], "name": s[1]}
            if s[0] == "ServiceAccount":
                sub["namespace"] = s[2]
            else:
                sub = {"apiGroup": "rbac.authorization.k8s.io", **sub}
            subs.append(sub)
        crb = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": name, "labels": dict(BOOTSTRAP_LABELS), "annotations": dict(AUTOUPDATE)},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role}}
        if subs:
            crb["subjects"] = subs
        out.append(crb)
    return out


def ensure_rbac(store) -> None:
    for key, objs in ((KEY_ROLES, cluster_roles()), (KEY_BINDINGS, cluster_role_bindings())):
        for obj in objs:
            if store.get(key, None, obj["metadata"]["name"]) is None:
                try:
                    store.create(key, obj)
                except ApiError:
                    pass
    aggregate_all(store)


def aggregated_rules(store, role: dict) -> list[dict]:
    """The union of the rules of every ClusterRole the selectors match, in name order, each
    rule once (the clusterrole-aggregation controller's order)."""
    rules: list[dict] = []
    selectors = (role.get("aggregationRule") or {}).get("clusterRoleSelectors") or []
    for other in sorted(store.iter(KEY_ROLES), key=lambda o: o["metadata"]["name"]):
        if other["metadata"]["name"] == role["metadata"]["name"]:
            continue
        labels = other["metadata"].get("labels") or {}
        if any(match_label_selector_obj(sel, labels) for sel in selectors):
            for rule in other.get("rules") or []:
                if rule not in rules:
                    rules.append(rule)
    return rules


def aggregate_all(store) -> None:
    for _ in range(3):  # view -> edit -> admin chains settle in as many passes
        changed = False
        for role in list(store.iter(KEY_ROLES)):
            if not role.get("aggregationRule"):
                continue
            want = aggregated_rules(store, role)
            if (role.get("rules") or []) != want:
                store.mutate(KEY_ROLES, None, role["metadata"]["name"], lambda o, want=want: o.update(rules=want))
                changed = True
        if not changed:
            return


class ClusterRoleAggregationController(Controller):
    name = "clusterrole-aggregation"
    primary = KEY_ROLES

    def keys_for(self, type_, key, obj):
        if key == KEY_ROLES:
            yield ("", "all")  # one pass recomputes every aggregated role

    def resync_keys(self):
        return [("", "all")]

    def reconcile(self, key) -> float | None:
        aggregate_all(self.store)
        return None

"""Manifests vs live objects, field by field. The manifests are a subset of what the server
stores (it adds defaults, status, bookkeeping), so the comparison walks the manifest: every
field it sets must match; extra items in named lists (an env var added by `kubectl set env`)
and extra keys in plain maps (selectors, resources) count; extra keys elsewhere are server
defaults and do not. Server-managed metadata is dropped first."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from typing import Any

from tripgenctl import manifests as m
from tripgenctl.quantity import parse as parse_quantity

SERVER_META = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds")
SERVER_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration", "deployment.kubernetes.io/revision")
# maps whose every key is meaningful (extra keys in live are drift, not defaults)
STRICT_MAPS = ("matchLabels", "limits", "requests", "data", "nodeSelector", "capacity")
# maps others legitimately add to (kubernetes.io/metadata.name, rollout restarts, down's bookkeeping)
OPEN_MAPS = ("labels", "annotations")
QUANTITY_PARENTS = ("limits", "requests", "capacity")
SECRETISH = re.compile(r"(?i)(password|passwd|secret|token|api[-_]?key|connection[-_]?string|credential|private)")
HIDDEN = "(hidden)"


@dataclass
class FieldDiff:
    object: str
    field: str
    change: str  # changed | missing (in the cluster) | extra (only in the cluster)
    manifest: str
    live: str

    __table__ = ("object", "field", "change", "manifest", "live")


@dataclass
class DiffResult:
    namespace: str
    profile: str
    objects: int
    differing: list[str]
    missing: list[str]
    fields: list[FieldDiff] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)  # deployed by tripgenctl (its ApplySet), no longer in the manifests

    __sections__ = ("fields",)

    @property
    def same(self) -> bool:
        return not self.differing and not self.missing and not self.extra

    @property
    def exit_code(self) -> int:
        """1 when anything differs, as kubectl diff."""
        return 0 if self.same else 1


# ---- pure functions --------------------------------------------------------------------------

def normalize(obj: dict) -> dict:
    """A live object without what the server manages (status, uid, managedFields, ...)."""
    obj = copy.deepcopy(obj)
    obj.pop("status", None)
    meta = obj.get("metadata") or {}
    for k in SERVER_META:
        meta.pop(k, None)
    ann = meta.get("annotations")
    if isinstance(ann, dict):
        for k in SERVER_ANNOTATIONS:
            ann.pop(k, None)
        if not ann:
            meta.pop("annotations", None)
    return obj


def compare(desired: Any, live: Any, path: str = "") -> list[tuple[str, str, Any, Any]]:
    """(field path, change, manifest value, live value) for every difference."""
    out: list[tuple[str, str, Any, Any]] = []
    if isinstance(desired, dict) and isinstance(live, dict):
        name = _last(path)
        for k, dv in desired.items():
            sub = _join(path, k)
            if k not in live:
                if not _empty(dv):
                    out.append((sub, "missing", dv, None))
                continue
            out.extend(compare(dv, live[k], sub))
        if name in STRICT_MAPS:
            for k in live:
                if k not in desired:
                    out.append((_join(path, k), "extra", None, live[k]))
        return out
    if isinstance(desired, list) and isinstance(live, list):
        keyed = desired and all(_key(d) for d in desired) and all(_key(x) for x in live)
        if keyed:
            live_by = {_key(x): x for x in live}
            want = {_key(d) for d in desired}
            for d in desired:
                sub = _item(path, _key(d))
                if _key(d) not in live_by:
                    out.append((sub, "missing", d, None))
                else:
                    out.extend(compare(d, live_by[_key(d)], sub))
            for x in live:
                if _key(x) not in want:
                    out.append((_item(path, _key(x)), "extra", None, x))
            return out
        if len(desired) == len(live):
            for i, (d, x) in enumerate(zip(desired, live)):
                out.extend(compare(d, x, f"{path}[{i}]"))
            return out
        return [(path, "changed", desired, live)]
    if _equal(desired, live, path):
        return []
    return [(path, "changed", desired, live)]


def diff_object(desired: dict, live: dict) -> list[FieldDiff]:
    ref = m.ref(desired)
    return [FieldDiff(ref, p, change, show(d, p), show(x, p)) for p, change, d, x in compare(desired, normalize(live))]


def show(value: Any, path: str = "", limit: int = 80) -> str:
    """A value for people: compact, short, and never a secret-looking env value."""
    if value is None:
        return "-"
    if isinstance(value, dict) and "name" in value and ("value" in value or "valueFrom" in value):  # an env item
        if "value" in value:
            shown = HIDDEN if SECRETISH.search(str(value["name"])) else value["value"]
            return f"{value['name']}={shown}"[:limit]
        ref = (value["valueFrom"] or {}).get("secretKeyRef") or (value["valueFrom"] or {}).get("configMapKeyRef") or {}
        return f"{value['name']} from {ref.get('name', '?')}/{ref.get('key', '?')}"[:limit]
    if path.endswith(".value") and "env['" in path and SECRETISH.search(path.rsplit("env['", 1)[1]):
        return HIDDEN
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _key(item: Any) -> str | None:
    if not isinstance(item, dict):
        return None
    if "name" in item and isinstance(item["name"], (str, int)):
        return str(item["name"])
    if "mountPath" in item:
        return str(item["mountPath"])
    meta = item.get("metadata")
    if isinstance(meta, dict) and "name" in meta:
        return str(meta["name"])
    return None


def _equal(desired: Any, live: Any, path: str) -> bool:
    if desired == live:
        return True
    parent = path.rsplit(".", 2)[-2] if path.count(".") >= 1 else ""
    if parent in QUANTITY_PARENTS or path.endswith(".storage"):
        try:
            return abs(parse_quantity(desired) - parse_quantity(live)) < 1e-9
        except (ValueError, KeyError, TypeError):
            return False
    if isinstance(desired, (int, float)) and isinstance(live, str) or isinstance(live, (int, float)) and isinstance(desired, str):
        return str(desired) == str(live)
    return False


def _empty(value: Any) -> bool:
    return value is None or value == {} or value == [] or value == ""


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else str(key)


def _item(path: str, key: str | None) -> str:
    """list item by name, quoted: containers['user-service'].env['FOO'] (also keeps Rich from
    reading [user-service] as markup)."""
    return f"{path}['{key}']"


def _last(path: str) -> str:
    tail = path.rsplit(".", 1)[-1]
    return tail.split("[", 1)[0]


# ---- against a cluster -------------------------------------------------------------------

def diff(kube, namespace: str, profile: str | None = None) -> DiffResult:
    """Render the manifests for `namespace` and compare each with its live object."""
    prof = m.get_profile(profile)
    objects = m.render(namespace, prof.name, config=kube.config)
    result = DiffResult(namespace=namespace, profile=prof.name, objects=len(objects), differing=[], missing=[])
    for obj in objects:
        meta = obj["metadata"]
        live = kube.get_object(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))
        if live is None:
            result.missing.append(m.ref(obj))
            continue
        fields = diff_object(m.respect_scaled_down(obj, live), live)
        if fields:
            result.differing.append(m.ref(obj))
            result.fields.extend(fields)
    result.extra = _stale_members(kube, namespace, objects)
    return result


def _stale_members(kube, namespace: str, objects: list[dict]) -> list[str]:
    """What `deploy` would prune (or keep, for volumes): members of its ApplySet that these
    manifests do not hold, e.g. profile 000's allow-all policy after going back to 001."""
    from tripgenctl.ops import applyset

    if kube.get_object("v1", "Namespace", namespace) is None:
        return []
    wanted = {(applyset.group_kind(o), o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objects}
    kinds = applyset.recorded_group_kinds(kube, namespace) | {applyset.group_kind(o) for o in objects}
    return [x.ref for x in applyset.members(kube, namespace, kinds) if (x.group_kind, x.namespace, x.name) not in wanted]

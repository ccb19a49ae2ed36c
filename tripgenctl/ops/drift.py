"""Drift beyond replica counts: a container's image, resources, env and command (and args) that
differ from the manifests, or that changed while the environment slept (a `kubectl set image`
at night), and who did it -- the field managers (metadata.managedFields) owning those fields.

`down` keeps a snapshot of each workload's containers in the annotation
tripgenctl.io/spec-at-down (with the replica ledger); `up` and `status` compare the live
containers with it. `status` also compares with the rendered manifests (ops/diff.py's source)
for the workloads the manifests define."""

from __future__ import annotations

import json
from dataclasses import dataclass

SNAPSHOT_ANNOTATION = "tripgenctl.io/spec-at-down"
FIELDS = ("image", "command", "args", "env", "resources")


@dataclass
class DriftRow:
    kind: str
    name: str
    container: str
    field: str
    expected: str  # the manifests' value, or the value at down
    live: str
    against: str  # "manifests" | "down" (changed while asleep)
    by: str  # field managers owning it now ("kubectl-set"), "-" when unknown

    __table__ = ("kind", "name", "container", "field", "expected", "live", "against", "by")


def pod_containers(obj: dict) -> list[dict]:
    spec = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    return list(spec.get("containers") or []) + list(spec.get("initContainers") or [])


def snapshot(obj: dict) -> dict[str, dict]:
    """{container: {field: value}} for the fields drift looks at (absent fields left out)."""
    out: dict[str, dict] = {}
    for c in pod_containers(obj):
        out[c.get("name", "")] = {f: c[f] for f in FIELDS if c.get(f) not in (None, [], {})}
    return out


def snapshot_text(obj: dict) -> str:
    return json.dumps(snapshot(obj), separators=(",", ":"), sort_keys=True)


def snapshot_of(annotations: dict) -> dict[str, dict] | None:
    raw = (annotations or {}).get(SNAPSHOT_ANNOTATION)
    if not raw:
        return None
    try:
        data = json.loads(raw)
        return data if isinstance(data, dict) else None
    except ValueError:
        return None


def _shown(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(x, str) for x in value):
        return " ".join(value)
    if isinstance(value, list) and all(isinstance(x, dict) and "name" in x for x in value):  # env
        return ", ".join(f"{x['name']}={x['value']}" if "value" in x else f"{x['name']} (from {next(iter(x.get('valueFrom') or {'?': 0}))})" for x in value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _norm_resources(value) -> dict:
    """Quantities as written may differ in spelling only ("0.5" vs "500m"): compare parsed."""
    from tripgenctl import quantity

    out: dict = {}
    for part, amounts in (value or {}).items():
        for res, q in (amounts or {}).items():
            try:
                out[(part, res)] = quantity.cpu_millis(q) if res == "cpu" else quantity.parse(q)
            except (ValueError, TypeError, AttributeError):
                out[(part, res)] = str(q)
    return out


def _same(field: str, a, b) -> bool:
    if field == "resources":
        return _norm_resources(a) == _norm_resources(b)
    return (a or None) == (b or None)


def changed_parts(field: str, want, have) -> list[tuple[str, ...]]:
    """Which parts of a field differ, as fieldsV1 keys below it: env entries by name, resource
    amounts by (part, resource); () for a field compared whole (image, command, args)."""
    if field == "env":
        a = {e.get("name"): e for e in want or [] if isinstance(e, dict)}
        b = {e.get("name"): e for e in have or [] if isinstance(e, dict)}
        return [("k:" + json.dumps({"name": n}, separators=(",", ":")),) for n in sorted(set(a) | set(b), key=str) if a.get(n) != b.get(n)]
    if field == "resources":
        na, nb = _norm_resources(want), _norm_resources(have)
        return [(f"f:{part}", f"f:{res}") for part, res in sorted(set(na) | set(nb)) if na.get((part, res)) != nb.get((part, res))]
    return [()]


def owners(obj: dict, container: str, field: str, parts: list[tuple[str, ...]] | None = None, skip: tuple[str, ...] = ()) -> list[str]:
    """Field managers whose managedFields cover containers[name=container].<field> -- the parts
    of it that changed when given (who added DEBUG=1, not who wrote the other variables)."""
    key = "k:" + json.dumps({"name": container}, separators=(",", ":"))
    out = set()
    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        if entry.get("manager") in skip:
            continue
        tree = entry.get("fieldsV1") or {}
        for part in ("f:spec", "f:template", "f:spec"):
            tree = tree.get(part) or {}
        for list_name in ("f:containers", "f:initContainers"):
            node = ((tree.get(list_name) or {}).get(key) or {}).get(f"f:{field}")
            if node is None:
                continue
            for sub in parts or [()]:
                cur = node
                for k in sub:
                    cur = cur.get(k) if isinstance(cur, dict) else None
                    if cur is None:
                        break
                if cur is not None:
                    out.add(entry.get("manager") or "?")
    return sorted(out)


def compare(kind: str, obj: dict, expected: dict[str, dict], against: str) -> list[DriftRow]:
    """Rows where the live containers differ from `expected` ({container: {field: value}}).
    Containers only one side has are left to `diff` (a structural change, not drift)."""
    live = snapshot(obj)
    rows = []
    for cname, want in expected.items():
        have = live.get(cname)
        if have is None:
            continue
        for f in FIELDS:
            if not _same(f, want.get(f), have.get(f)):
                by = owners(obj, cname, f, changed_parts(f, want.get(f), have.get(f)), skip=("tripgenctl",) if against == "down" else ())
                rows.append(DriftRow(kind, obj["metadata"]["name"], cname, f, _shown(want.get(f)), _shown(have.get(f)), against, ", ".join(by) or "-"))
    return rows


def against_manifests(workloads: list[tuple[str, dict]], manifests: list[dict]) -> list[DriftRow]:
    """Live Deployments/StatefulSets vs the rendered manifests of the same kind and name."""
    wanted = {(o["kind"], o["metadata"]["name"]): o for o in manifests if o.get("kind") in ("Deployment", "StatefulSet")}
    rows: list[DriftRow] = []
    for kind, obj in workloads:
        m = wanted.get((kind, obj["metadata"]["name"]))
        if m is not None:
            rows += compare(kind, obj, snapshot(m), "manifests")
    return rows


def since_down(workloads: list[tuple[str, dict]]) -> list[DriftRow]:
    """Changes made while asleep: live containers vs the snapshot `down` kept."""
    rows: list[DriftRow] = []
    for kind, obj in workloads:
        snap = snapshot_of((obj.get("metadata") or {}).get("annotations") or {})
        if snap is not None:
            rows += compare(kind, obj, snap, "down")
    return rows

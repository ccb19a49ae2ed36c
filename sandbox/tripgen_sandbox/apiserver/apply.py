"""Server-side apply and field ownership (metadata.managedFields), reduced to what clients can
observe: each manager owns a set of leaf fields; re-applying without a field removes it when no
one else owns it; applying a field another manager set to a different value is a conflict unless
forced; plain updates transfer ownership of the fields they change."""

from __future__ import annotations

import copy
import json
from typing import Any

from tripgen_sandbox.apierrors import ApiError
from tripgen_sandbox.apiserver.patch import merge_key_for
from tripgen_sandbox.store import now_iso

Path = tuple  # elements: ("f", name) | ("k", json-of-key-dict)

SKIP_META = {"resourceVersion", "uid", "creationTimestamp", "generation", "managedFields", "deletionTimestamp", "selfLink"}


def leaf_paths(obj: Any, prefix: Path = (), field: str | None = None) -> set[Path]:
    out: set[Path] = set()
    if isinstance(obj, dict):
        if not obj and prefix:
            out.add(prefix)
        for k, v in obj.items():
            if not prefix and k in ("apiVersion", "kind", "status"):
                continue
            if prefix == (("f", "metadata"),) and k in SKIP_META:
                continue
            out |= leaf_paths(v, prefix + (("f", k),), k)
        return out
    if isinstance(obj, list) and field:
        key = merge_key_for(field, obj)
        if key and all(isinstance(x, dict) and key in x for x in obj):
            for item in obj:
                kp = prefix + (("k", json.dumps({key: item[key]}, separators=(",", ":"))),)
                out.add(kp + ((".", ""),))
                out |= leaf_paths(item, kp, None)
            return out
    out.add(prefix)
    return out


def get_path(obj: Any, path: Path) -> Any:
    cur = obj
    for kind, val in path:
        if kind == ".":
            return cur
        if kind == "f":
            if not isinstance(cur, dict) or val not in cur:
                return _MISSING
            cur = cur[val]
        else:
            if not isinstance(cur, list):
                return _MISSING
            want = json.loads(val)
            cur = next((x for x in cur if isinstance(x, dict) and all(x.get(a) == b for a, b in want.items())), _MISSING)
            if cur is _MISSING:
                return _MISSING
    return cur


def remove_path(obj: Any, path: Path) -> None:
    if not path:
        return
    if path[-1][0] == ".":
        path = path[:-1]
    parent = get_path(obj, path[:-1]) if len(path) > 1 else obj
    kind, val = path[-1]
    if kind == "f" and isinstance(parent, dict):
        parent.pop(val, None)
    elif kind == "k" and isinstance(parent, list):
        want = json.loads(val)
        parent[:] = [x for x in parent if not (isinstance(x, dict) and all(x.get(a) == b for a, b in want.items()))]


class _Missing:
    def __repr__(self):
        return "<missing>"


_MISSING = _Missing()


def to_fields_v1(paths: set[Path]) -> dict:
    root: dict = {}
    for path in sorted(paths):
        cur = root
        for kind, val in path:
            token = "." if kind == "." else f"{kind}:{val}"
            cur = cur.setdefault(token, {})
    return root


def from_fields_v1(tree: dict, prefix: Path = ()) -> set[Path]:
    out: set[Path] = set()
    for token, sub in (tree or {}).items():
        if token == ".":
            out.add(prefix + ((".", ""),))
            continue
        kind, _, val = token.partition(":")
        if kind not in ("f", "k"):
            continue
        path = prefix + ((kind, val),)
        if sub:
            out |= from_fields_v1(sub, path)
        else:
            out.add(path)
    return out


def managers(obj: dict) -> dict[tuple[str, str], set[Path]]:
    out = {}
    for entry in obj.get("metadata", {}).get("managedFields") or []:
        out[(entry.get("manager", ""), entry.get("operation", "Update"))] = from_fields_v1(entry.get("fieldsV1") or {})
    return out


def store_managers(obj: dict, table: dict[tuple[str, str], set[Path]], api_version: str) -> None:
    entries = []
    for (manager, operation), paths in table.items():
        if not paths:
            continue
        entries.append({
            "manager": manager,
            "operation": operation,
            "apiVersion": api_version,
            "time": now_iso(),
            "fieldsType": "FieldsV1",
            "fieldsV1": to_fields_v1(paths),
        })
    if entries:
        obj.setdefault("metadata", {})["managedFields"] = entries
    else:
        obj.get("metadata", {}).pop("managedFields", None)


def _merge(live: Any, applied: Any, field: str | None = None) -> Any:
    if isinstance(applied, dict) and isinstance(live, dict):
        out = copy.deepcopy(live)
        for k, v in applied.items():
            out[k] = _merge(live.get(k), v, k)
        return out
    if isinstance(applied, list) and isinstance(live, list) and field:
        key = merge_key_for(field, applied or live)
        if key and all(isinstance(x, dict) and key in x for x in applied + live):
            out = [copy.deepcopy(x) for x in live]
            for item in applied:
                idx = next((i for i, x in enumerate(out) if x.get(key) == item.get(key)), None)
                if idx is None:
                    out.append(copy.deepcopy(item))
                else:
                    out[idx] = _merge(out[idx], item, None)
            # keep the applied order for applied items, then the rest
            order = [x.get(key) for x in applied]
            out.sort(key=lambda x: order.index(x.get(key)) if x.get(key) in order else len(order))
            return out
    return copy.deepcopy(applied)


def apply(live: dict | None, applied: dict, manager: str, force: bool, api_version: str) -> dict:
    """The object after `applied` is applied by `manager` onto `live` (None: create)."""
    new_paths = leaf_paths(applied)
    if live is None:
        result = copy.deepcopy(applied)
        store_managers(result, {(manager, "Apply"): new_paths}, api_version)
        return result
    table = managers(live)
    mine_key = (manager, "Apply")
    conflicts = []
    for (other, op), owned in table.items():
        if (other, op) == mine_key:
            continue
        for p in new_paths & owned:
            if _comparable(get_path(live, p), p) != _comparable(get_path(applied, p), p):
                if force:
                    owned.discard(p)
                else:
                    conflicts.append((other, p))
            elif other == manager:
                owned.discard(p)
    if conflicts:
        fields = sorted({_dotted(p) for _, p in conflicts})
        mgr = sorted({m for m, _ in conflicts})
        msg = f"Apply failed with {len(conflicts)} conflict{'s' if len(conflicts) > 1 else ''}: " + "; ".join(
            f'conflict with "{m}": {f}' for m, f in sorted({(m, _dotted(p)) for m, p in conflicts})
        )
        raise ApiError(
            409,
            msg,
            "Conflict",
            {"causes": [{"reason": "FieldManagerConflict", "message": f'conflict with "{m}"', "field": f} for m in mgr for f in fields]},
        )
    previous = table.get(mine_key, set())
    others = set().union(*(v for k, v in table.items() if k != mine_key)) if len(table) > (1 if mine_key in table else 0) else set()
    result = copy.deepcopy(live)
    for p in sorted(previous - new_paths, key=len, reverse=True):
        if p not in others and not any(_is_prefix(p, o) for o in others):
            remove_path(result, p)
    result = _merge(result, applied)
    table[mine_key] = new_paths
    store_managers(result, table, api_version)
    return result


LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def sync_last_applied(live: dict, applied: dict, result: dict) -> None:
    """The API server's lastAppliedUpdater: an apply by the manager "kubectl" to an object that
    carries client-side apply's annotation rewrites the annotation to this applied config, so a
    later client-side `apply`/`diff` computes its 3-way patch from what was really applied."""
    if LAST_APPLIED not in ((live.get("metadata") or {}).get("annotations") or {}):
        return
    cfg = copy.deepcopy(applied)
    ann = (cfg.get("metadata") or {}).get("annotations")
    if ann is not None:
        ann.pop(LAST_APPLIED, None)
    result.setdefault("metadata", {}).setdefault("annotations", {})[LAST_APPLIED] = json.dumps(cfg, separators=(",", ":"), sort_keys=True)


def record_update(old: dict | None, new: dict, manager: str, api_version: str) -> None:
    """Give `manager` ownership of the leaf fields this write changed (operation Update)."""
    table = managers(old) if old else {}
    new_leaves = leaf_paths(new)
    changed = {p for p in new_leaves if old is None or _comparable(get_path(old, p), p) != _comparable(get_path(new, p), p)}
    if not changed and old is not None:
        if "managedFields" in (old.get("metadata") or {}):
            new.setdefault("metadata", {})["managedFields"] = old["metadata"]["managedFields"]
        return
    for key, owned in table.items():
        if key != (manager, "Update"):
            owned -= changed
    table[(manager, "Update")] = (table.get((manager, "Update"), set()) | changed) & new_leaves
    store_managers(new, table, api_version)


def _comparable(value: Any, path: Path = ()) -> str:
    if path and path[-1][0] == ".":
        return "<present>" if value is not _MISSING else "<missing>"  # a list item's existence, not its content
    return json.dumps(value, sort_keys=True, default=str) if value is not _MISSING else "<missing>"


def _is_prefix(prefix: Path, path: Path) -> bool:
    return len(prefix) < len(path) and path[: len(prefix)] == prefix


def _dotted(path: Path) -> str:
    parts = []
    for kind, val in path:
        if kind == "f":
            parts.append(f".{val}")
        elif kind == "k":
            parts.append(f"[{','.join(f'{k}={v!r}' for k, v in json.loads(val).items())}]")
    return "".join(parts)

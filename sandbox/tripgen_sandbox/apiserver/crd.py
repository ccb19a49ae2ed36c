"""CustomResourceDefinitions (apiextensions.k8s.io/v1), as apiextensions-apiserver serves them:
a valid CRD (names, scope, one storage version, a structural schema per version) makes its
group/version/kind served at once (discovery, REST verbs, watch, server-side apply, the status
and scale subresources it declares, its additionalPrinterColumns in tables, its schema in
OpenAPI), and its status says so (NamesAccepted, Established). A custom resource is defaulted,
pruned and validated against its version's schema (422 Invalid naming each field; with
fieldValidation=Strict an unknown field is a 400). Deleting a CRD deletes its custom resources
first (the `customresourcecleanup` finalizer), then stops serving them.

Hooks: ApiServer calls install() once, prepare() from its admission step, and scale_view()/
set_replicas() for custom `scale` subresources; tables use the columns registered here."""

from __future__ import annotations

import asyncio
import contextvars
import copy
import json
import re
from dataclasses import dataclass, field

from tripgen_sandbox import resources
from tripgen_sandbox.apierrors import ApiError
from tripgen_sandbox.apiserver import crdschema, openapi, tables
from tripgen_sandbox.apiserver.encode import JSON, respond

CRD_KEY = "customresourcedefinitions.apiextensions.k8s.io"
FINALIZER = "customresourcecleanup.apiextensions.k8s.io"
# the request's fieldValidation (Strict / Warn / Ignore), set by the API server per request
FIELD_VALIDATION: contextvars.ContextVar[str] = contextvars.ContextVar("field_validation", default="")

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


@dataclass
class Custom:
    """What the server keeps about one served CRD."""

    crd_name: str
    kind: str
    group: str
    schemas: dict[str, dict]  # version -> openAPIV3Schema
    columns: dict[str, list[dict]]  # version -> additionalPrinterColumns
    scale: dict[str, dict] = field(default_factory=dict)  # version -> scale subresource paths


CUSTOM: dict[str, Custom] = {}  # store key (plural.group) -> Custom
_STORE: list = []  # the store install() was given (admission reads the current objects)


def _version_key(v: str) -> tuple:
    """Kubernetes version priority: GA > beta > alpha, higher numbers first, others last."""
    m = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", v)
    if not m:
        return (3, 0, 0, v)
    stage = {"": 0, "beta": 1, "alpha": 2}[m.group(2) or ""]
    return (stage, -int(m.group(1)), -int(m.group(3) or 0), v)


# ---- CRD admission -------------------------------------------------------------------------
def validate_definition(obj: dict) -> None:
    spec = obj.get("spec") or {}
    names = spec.get("names") or {}
    group = spec.get("group") or ""
    name = (obj.get("metadata") or {}).get("name", "")
    causes: list[tuple[str, str]] = []
    if not group:
        causes.append(("spec.group", "Required value"))
    elif "." not in group or not _DNS1123_SUBDOMAIN.match(group):
        causes.append(("spec.group", f'Invalid value: "{group}": should be a domain with at least one dot'))
    plural, kind = names.get("plural") or "", names.get("kind") or ""
    if not plural:
        causes.append(("spec.names.plural", "Required value"))
    elif not _DNS1123_LABEL.match(plural):
        causes.append(("spec.names.plural", f'Invalid value: "{plural}": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or \'-\''))
    if not kind:
        causes.append(("spec.names.kind", "Required value"))
    if plural and group and name != f"{plural}.{group}":
        causes.append(("metadata.name", f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group'))
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        causes.append(("spec.scope", f'Unsupported value: "{spec.get("scope", "")}": supported values: "Cluster", "Namespaced"'))
    versions = spec.get("versions") or []
    if not versions:
        causes.append(("spec.versions", "Invalid value: null: must have exactly one version marked as storage version"))
    elif sum(1 for v in versions if v.get("storage")) != 1:
        causes.append(("spec.versions", f"Invalid value: {versions!r:.60}: must have exactly one version marked as storage version"))
    for i, v in enumerate(versions):
        schema = ((v.get("schema") or {}).get("openAPIV3Schema"))
        if not v.get("name"):
            causes.append((f"spec.versions[{i}].name", "Required value"))
        if schema is None:
            causes.append((f"spec.versions[{i}].schema.openAPIV3Schema", "Required value: schemas are required"))
            continue
        for path, msg in crdschema.structural_errors(schema, f"spec.versions[{i}].schema.openAPIV3Schema"):
            causes.append((path, msg))
    if causes:
        msg = "; ".join(f"{f}: {m}" for f, m in causes)
        raise ApiError(422, f'CustomResourceDefinition.apiextensions.k8s.io "{name}" is invalid: {msg}', "Invalid",
                       {"name": name, "group": "apiextensions.k8s.io", "kind": "CustomResourceDefinition",
                        "causes": [{"reason": "FieldValueInvalid", "message": m, "field": f} for f, m in causes]})


def _default_definition(obj: dict) -> None:
    spec = obj["spec"]
    names = spec["names"]
    names.setdefault("singular", names["kind"].lower())
    names.setdefault("listKind", names["kind"] + "List")
    spec.setdefault("conversion", {"strategy": "None"})
    meta = obj.setdefault("metadata", {})
    if not meta.get("deletionTimestamp") and FINALIZER not in (meta.get("finalizers") or []):
        meta["finalizers"] = [*(meta.get("finalizers") or []), FINALIZER]


def prepare(t: resources.ResourceType, obj: dict) -> None:
    """Admission of a write on the main resource: a CRD is validated and defaulted; a custom
    resource defaulted, pruned and validated against its schema."""
    if t.key == CRD_KEY:
        validate_definition(obj)
        cur = _STORE[0].get(CRD_KEY, None, obj["metadata"]["name"]) if _STORE else None
        if cur and cur["spec"].get("scope") != obj["spec"].get("scope"):
            name, scope = obj["metadata"]["name"], obj["spec"].get("scope")
            raise ApiError(422, f'CustomResourceDefinition.apiextensions.k8s.io "{name}" is invalid: spec.scope: Invalid value: "{scope}": field is immutable', "Invalid",
                           {"name": name, "group": "apiextensions.k8s.io", "kind": "CustomResourceDefinition",
                            "causes": [{"reason": "FieldValueInvalid", "message": f'Invalid value: "{scope}": field is immutable', "field": "spec.scope"}]})
        _default_definition(obj)
        return
    custom = CUSTOM.get(t.key)
    if custom is None:
        return
    if _STORE and not obj.get("metadata", {}).get("uid"):
        store = _STORE[0]
        definition = store.get(CRD_KEY, None, custom.crd_name)
        meta = obj.get("metadata", {})
        creating = not meta.get("name") or store.get(t.key, meta.get("namespace"), meta["name"]) is None
        if creating and definition and definition["metadata"].get("deletionTimestamp"):
            raise ApiError(405, f"create not allowed while custom resource definition is terminating", "MethodNotAllowed")
    schema = custom.schemas.get(t.version) or {}
    if "status" in t.subresources:
        obj.pop("status", None)  # written through /status only (the stored one is kept)
    crdschema.default(obj, schema)
    dropped = crdschema.prune(obj, schema)
    name = obj.get("metadata", {}).get("name") or obj.get("metadata", {}).get("generateName") or ""
    if dropped and FIELD_VALIDATION.get() == "Strict":
        raise ApiError(400, "strict decoding error: " + ", ".join(f'unknown field "{p}"' for p in dropped), "BadRequest")
    causes = crdschema.validate(obj, schema)
    meta_name = obj.get("metadata", {}).get("name")
    if meta_name and not _DNS1123_SUBDOMAIN.match(meta_name):
        causes.insert(0, ("metadata.name", f'Invalid value: "{meta_name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, \'-\' or \'.\', and must start and end with an alphanumeric character'))
    if causes:
        _refuse(t, name, causes)


def admit_status(t: resources.ResourceType, obj: dict) -> None:
    """A write through /status: the status is defaulted, pruned and validated by its schema."""
    custom = CUSTOM.get(t.key)
    if custom is None or not isinstance(obj.get("status"), dict):
        return
    schema = ((custom.schemas.get(t.version) or {}).get("properties") or {}).get("status")
    if not isinstance(schema, dict):
        return
    crdschema.default(obj["status"], schema)
    crdschema.prune(obj["status"], schema, "status", False)
    causes = crdschema.validate(obj["status"], schema, "status", False)
    if causes:
        _refuse(t, obj.get("metadata", {}).get("name", ""), causes)


def _refuse(t: resources.ResourceType, name: str, causes: list[tuple[str, str]]) -> None:
    msg = ", ".join(f"{f}: {m}" for f, m in causes)
    if len(causes) > 1:
        msg = "[" + msg + "]"
    raise ApiError(422, f'{t.kind}.{t.group} "{name}" is invalid: {msg}', "Invalid",
                   {"name": name, "group": t.group, "kind": t.kind,
                    "causes": [{"reason": "FieldValueInvalid", "message": m, "field": f} for f, m in causes]})


# ---- serving -------------------------------------------------------------------------------
def _definition_name(group: str, version: str, kind: str) -> str:
    return ".".join(reversed(group.split("."))) + f".{version}.{kind}"


def register(crd: dict) -> None:
    spec = crd["spec"]
    names = spec["names"]
    group, kind, plural = spec["group"], names["kind"], names["plural"]
    key = f"{plural}.{group}"
    served = [v for v in spec.get("versions") or [] if v.get("served", True)]
    if not served:
        unregister(key)
        return
    storage = next((v for v in spec["versions"] if v.get("storage")), served[0])
    ordered = sorted(served, key=lambda v: _version_key(v["name"]))
    types, schemas, columns, scale = [], {}, {}, {}
    for v in ordered:
        subs = v.get("subresources") or {}
        sub_names = tuple(s for s in ("status", "scale") if s in subs)
        types.append(resources.ResourceType(
            group, v["name"], kind, plural, spec.get("scope") == "Namespaced", tuple(names.get("shortNames") or ()),
            sub_names, categories=tuple(names.get("categories") or ()), has_status="status" in subs, custom=True,
            singular_name=names.get("singular") or kind.lower(),
        ))
        schemas[v["name"]] = (v.get("schema") or {}).get("openAPIV3Schema") or {}
        columns[v["name"]] = v.get("additionalPrinterColumns") or []
        if "scale" in subs:
            scale[v["name"]] = subs["scale"] or {}
    resources.register(types, next((t for t in types if t.version == storage["name"]), types[0]))
    CUSTOM[key] = Custom(crd["metadata"]["name"], kind, group, schemas, columns, scale)
    _openapi_register(group, kind, names.get("listKind") or kind + "List", schemas)
    _tables_register(crd["metadata"]["name"], kind, columns[ordered[0]["name"]])


def unregister(key: str) -> None:
    custom = CUSTOM.pop(key, None)
    resources.unregister(key)
    if custom is None:
        return
    for name in [n for n, owner in _DEFINED_BY.items() if owner == custom.crd_name]:
        openapi.EXTRA.pop(name, None)
        del _DEFINED_BY[name]
    openapi.changed()
    mine = _OUR_COLUMNS.get(custom.kind)
    if mine is not None:
        mine.pop(custom.crd_name, None)
        if mine:
            tables.COLUMNS[custom.kind] = next(iter(mine.values()))
        else:
            del _OUR_COLUMNS[custom.kind]
            tables.COLUMNS.pop(custom.kind, None)


_DEFINED_BY: dict[str, str] = {}  # OpenAPI definition name -> the CRD that defines it


def _openapi_register(group: str, kind: str, list_kind: str, schemas: dict[str, dict]) -> None:
    crd_name = next(c.crd_name for c in CUSTOM.values() if c.group == group and c.kind == kind)
    for name in [n for n, owner in _DEFINED_BY.items() if owner == crd_name]:
        openapi.EXTRA.pop(name, None)
        del _DEFINED_BY[name]
    for version, schema in schemas.items():
        s = copy.deepcopy(schema)
        props = s.setdefault("properties", {})
        props["apiVersion"] = {"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."}
        props["kind"] = {"type": "string", "description": "Kind is a string value representing the REST resource this object represents."}
        props["metadata"] = {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "description": "Standard object's metadata."}
        s.setdefault("type", "object")
        s["x-kubernetes-group-version-kind"] = [{"group": group, "kind": kind, "version": version}]
        name = _definition_name(group, version, kind)
        openapi.EXTRA[name] = s
        openapi.EXTRA[_definition_name(group, version, list_kind)] = {
            "description": f"{list_kind} is a list of {kind}",
            "type": "object",
            "required": ["items"],
            "properties": {
                "apiVersion": props["apiVersion"],
                "items": {"type": "array", "items": {"$ref": f"#/definitions/{name}"}, "description": f"List of {kind.lower()}s."},
                "kind": props["kind"],
                "metadata": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta", "description": "Standard list metadata."},
            },
            "x-kubernetes-group-version-kind": [{"group": group, "kind": list_kind, "version": version}],
        }
        _DEFINED_BY[name] = _DEFINED_BY[_definition_name(group, version, list_kind)] = crd_name
    openapi.changed()


# ---- tables: additionalPrinterColumns ------------------------------------------------------
# `kubectl get crd`: what kube-apiserver's table for CustomResourceDefinitions shows
tables.COLUMNS.setdefault("CustomResourceDefinition", [
    ("Name", "string", 0, lambda o: o["metadata"]["name"]),
    ("Created At", "date", 0, lambda o: o["metadata"].get("creationTimestamp", "")),
])
# kind -> {CRD name: columns}: tables are looked up by kind, which two groups may share
_OUR_COLUMNS: dict[str, dict[str, list]] = {}


def jsonpath(obj, path: str):
    """The subset of JSONPath printer columns use: .a.b, [n], [*] and [?(@.k=="v")]."""
    cur = [obj]
    for token in re.findall(r"\.([^.\[]+)|\[([^\]]+)\]", path.strip().lstrip("{").rstrip("}")):
        name, index = token
        nxt = []
        for c in cur:
            if name:
                if isinstance(c, dict) and name in c:
                    nxt.append(c[name])
            elif isinstance(c, list):
                if index == "*":
                    nxt += c
                elif index.lstrip("-").isdigit():
                    i = int(index)
                    if -len(c) <= i < len(c):
                        nxt.append(c[i])
                else:
                    m = re.fullmatch(r"\?\(@\.([\w.-]+)\s*==\s*['\"]?([^'\"]*)['\"]?\)", index)
                    if m:
                        nxt += [e for e in c if isinstance(e, dict) and str(e.get(m.group(1))) == m.group(2)]
        cur = nxt
    return cur


def _column(col: dict):
    path, typ = col.get("jsonPath", ""), col.get("type", "string")

    def get(o):
        found = jsonpath(o, path)
        if not found:
            return None
        v = found[0] if len(found) == 1 else ",".join(str(x) for x in found)
        if typ == "date":
            return tables.age(v)
        if typ in ("integer", "number", "boolean"):
            return v
        return v if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else str(v)

    return (col["name"], "string" if typ == "date" else typ, int(col.get("priority", 0)), get)


def _tables_register(crd_name: str, kind: str, columns: list[dict]) -> None:
    if kind in tables.COLUMNS and kind not in _OUR_COLUMNS:
        return  # a built-in kind's name: keep its columns
    cols = [("Name", "string", 0, lambda o: o["metadata"]["name"])]
    if columns:
        cols += [_column(c) for c in columns]
    else:
        cols.append(("Age", "date", 0, lambda o: tables.age(o["metadata"].get("creationTimestamp"))))
    tables.COLUMNS[kind] = cols
    _OUR_COLUMNS.setdefault(kind, {})[crd_name] = cols


# ---- scale subresource ---------------------------------------------------------------------
def _path_get(obj: dict, path: str):
    found = jsonpath(obj, path)
    return found[0] if found else None


def scale_view(t: resources.ResourceType, obj: dict) -> dict:
    paths = CUSTOM[t.key].scale.get(t.version) or {}
    out = {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {k: obj["metadata"][k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in obj["metadata"]},
        "spec": {"replicas": _path_get(obj, paths.get("specReplicasPath", ".spec.replicas")) or 0},
        "status": {"replicas": _path_get(obj, paths.get("statusReplicasPath", ".status.replicas")) or 0},
    }
    if paths.get("labelSelectorPath"):
        sel = _path_get(obj, paths["labelSelectorPath"])
        if sel:
            out["status"]["selector"] = sel
    return out


def set_replicas(t: resources.ResourceType, obj: dict, replicas: int) -> None:
    path = (CUSTOM[t.key].scale.get(t.version) or {}).get("specReplicasPath", ".spec.replicas")
    parts = [p for p in path.split(".") if p]
    cur = obj
    for p in parts[:-1]:
        cur = cur.setdefault(p, {})
    cur[parts[-1]] = replicas


# ---- versions: conversion strategy None ---------------------------------------------------
async def served_version(server, request, r):
    """A request to a version other than the storage one: objects are stored in the storage
    version and answered in the requested one with only apiVersion changed (strategy None)."""
    from aiohttp import web

    t = r.type
    storage = resources.BY_KEY[t.key].api_version

    def relabel(obj):
        if isinstance(obj, dict) and obj.get("apiVersion") == storage:
            obj["apiVersion"] = t.api_version
        return obj

    q = request.query
    if request.method == "GET" and r.name is None and not r.sub and q.get("watch") not in (None, "false", "0"):
        return await server.watch(request, r, t.key, lambda o: [relabel(copy.deepcopy(o))])
    resp = await server.handle(request, r, converted=True)
    if isinstance(resp, web.Response) and resp.content_type == "application/json" and resp.body:
        body = json.loads(resp.body)
        relabel(body)
        for row in body.get("rows") or ():  # a Table's objects
            relabel(row.get("object"))
        return respond(body, resp.status, content_type=resp.headers.get("Content-Type", JSON),
                       headers={k: v for k, v in resp.headers.items() if k.lower() not in ("content-type", "content-length")})
    return resp


# ---- lifecycle -----------------------------------------------------------------------------
def _status_for(crd: dict) -> dict:
    spec = crd["spec"]
    old = {c.get("type"): c for c in (crd.get("status") or {}).get("conditions") or []}
    from tripgen_sandbox.store import now_iso

    def cond(type_, reason, message):
        return {"type": type_, "status": "True", "lastTransitionTime": (old.get(type_) or {}).get("lastTransitionTime") or now_iso(), "reason": reason, "message": message}

    stored = list((crd.get("status") or {}).get("storedVersions") or [])
    storage = next((v["name"] for v in spec["versions"] if v.get("storage")), None)
    if storage and storage not in stored:
        stored.append(storage)
    return {
        "conditions": [cond("NamesAccepted", "NoConflicts", "no conflicts found"), cond("Established", "InitialNamesAccepted", "the initial names have been accepted")],
        "acceptedNames": {k: v for k, v in spec["names"].items()},
        "storedVersions": stored,
    }


def _sync_status(store, name: str) -> None:
    crd = store.get(CRD_KEY, None, name)
    if crd is None or crd["metadata"].get("deletionTimestamp"):
        return
    want = _status_for(crd)
    if crd.get("status") != want:
        store.mutate(CRD_KEY, None, name, lambda o: o.__setitem__("status", want), subresource="status")


def _cleanup(store, name: str) -> None:
    """The customresourcecleanup finalizer: delete every custom resource, then let the CRD go."""
    crd = store.get(CRD_KEY, None, name)
    if crd is None or not crd["metadata"].get("deletionTimestamp"):
        return
    key = f'{crd["spec"]["names"]["plural"]}.{crd["spec"]["group"]}'
    left = []
    if key in resources.BY_KEY:
        for o in list(store.iter(key)):
            meta = o["metadata"]
            if not meta.get("deletionTimestamp"):
                try:
                    store.delete(key, meta.get("namespace"), meta["name"])
                except ApiError:
                    pass
        left = list(store.iter(key))
    if left:
        asyncio.get_running_loop().call_later(0.5, _cleanup, store, name)
        return

    def drop(o):
        o.setdefault("status", {})["conditions"] = [c for c in (o.get("status") or {}).get("conditions") or [] if c.get("type") != "Established"]
        o["metadata"]["finalizers"] = [f for f in o["metadata"].get("finalizers") or [] if f != FINALIZER]

    store.mutate(CRD_KEY, None, name, drop)


def _later(fn, *args) -> None:
    try:
        asyncio.get_running_loop().call_soon(fn, *args)
    except RuntimeError:
        fn(*args)


def install(store) -> None:
    """Serve the CRDs already stored and follow every change to them (once per store)."""
    if _STORE and _STORE[0] is store:
        return
    _STORE[:] = [store]
    for crd in list(store.iter(CRD_KEY)):
        try:
            register(crd)
        except (KeyError, TypeError):
            continue

    _specs: dict[str, dict] = {}

    def _changed_spec(obj: dict) -> bool:
        name = obj["metadata"]["name"]
        if _specs.get(name) == obj["spec"]:
            return False
        _specs[name] = copy.deepcopy(obj["spec"])
        return True

    def on_change(type_: str, key: str, obj: dict) -> None:
        if key != CRD_KEY:
            return
        plural_key = f'{obj["spec"]["names"]["plural"]}.{obj["spec"]["group"]}'
        if type_ == "DELETED":
            unregister(plural_key)
            for w in list(store._watches):
                if w.key == plural_key:
                    w.close()  # as kube-apiserver ends the watches of a resource it stops serving
            return
        if obj["metadata"].get("deletionTimestamp"):
            _later(_cleanup, store, obj["metadata"]["name"])
            return
        if type_ == "ADDED" or CUSTOM.get(plural_key) is None or _changed_spec(obj):
            register(obj)
        _later(_sync_status, store, obj["metadata"]["name"])

    store.on_change(on_change)

"""The OpenAPI documents kube-apiserver publishes, with real schemas: `/openapi/v2` (JSON, or the
gnostic protobuf kubectl <= 1.28 asks for) and `/openapi/v3` (an index of per group-version
documents, which kubectl >= 1.29 reads for explain, and >= 1.28 for client-side apply patches).

The schemas are Kubernetes 1.29's own definitions (data/openapi-defs.json.gz, derived from the
kubernetes-validate package by sandbox/scripts/gen_openapi_defs.py) plus one per served custom
resource (from its CRD, `apiserver/crd.py` registers them). Only served kinds appear, with the
definitions they reference. Each kind's operations carry `x-kubernetes-group-version-kind` and the
`fieldValidation` parameter, from which kubectl learns that the server validates fields itself."""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
from functools import lru_cache
from importlib import resources as pkg_resources

from tripgen_sandbox import resources
from tripgen_sandbox.apiserver import gnostic

VERSION = "v1.29.4"

# definitions added at run time (custom resources): name -> OpenAPI v2 schema with its GVK extension
EXTRA: dict[str, dict] = {}
_generation = [0]


def changed() -> None:
    """Called when the served types or EXTRA change (a CRD established or deleted)."""
    _generation[0] += 1
    _CACHE.clear()


@lru_cache(maxsize=1)
def builtin_definitions() -> dict[str, dict]:
    raw = pkg_resources.files("tripgen_sandbox").joinpath("data/openapi-defs.json.gz").read_bytes()
    return json.loads(gzip.decompress(raw))["definitions"]


def definitions() -> dict[str, dict]:
    if not EXTRA:
        return builtin_definitions()
    return {**builtin_definitions(), **EXTRA}


@lru_cache(maxsize=1)
def _builtin_gvk_index() -> dict[tuple[str, str, str], str]:
    return _gvk_index(builtin_definitions())


def _gvk_index(defs: dict[str, dict]) -> dict[tuple[str, str, str], str]:
    out = {}
    for name, s in defs.items():
        for gvk in s.get("x-kubernetes-group-version-kind", ()):
            out.setdefault((gvk["group"], gvk["version"], gvk["kind"]), name)
    return out


def definition_name(group: str, version: str, kind: str) -> str | None:
    key = (group, version, kind)
    for name, s in EXTRA.items():
        if any((g["group"], g["version"], g["kind"]) == key for g in s.get("x-kubernetes-group-version-kind", ())):
            return name
    return _builtin_gvk_index().get(key)


def _refs(s, found: set[str]) -> None:
    if isinstance(s, dict):
        ref = s.get("$ref")
        if isinstance(ref, str):
            found.add(ref.rsplit("/", 1)[-1])
        for v in s.values():
            _refs(v, found)
    elif isinstance(s, list):
        for v in s:
            _refs(v, found)


def closure(names: list[str], defs: dict[str, dict]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    todo = list(names)
    while todo:
        n = todo.pop()
        if n in out or n not in defs:
            continue
        out[n] = defs[n]
        found: set[str] = set()
        _refs(defs[n], found)
        todo += [f for f in found if f not in out]
    return dict(sorted(out.items()))


# ---- paths ---------------------------------------------------------------------------------
def _q(name: str, description: str) -> dict:
    return {"name": name, "in": "query", "type": "string", "uniqueItems": True, "description": description}


_WRITE_PARAMS = [
    _q("dryRun", "When present, indicates that modifications should not be persisted."),
    _q("fieldManager", "fieldManager is a name associated with the actor or entity that is making these changes."),
    _q("fieldValidation", "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: Ignore, Warn, Strict."),
]


def _paths(types: list[resources.ResourceType], ref) -> dict:
    paths: dict[str, dict] = {}
    for t in types:
        name = definition_name(t.group, t.version, t.kind)
        if name is None:
            continue
        gvk = {"group": t.group, "version": t.version, "kind": t.kind}
        list_name = definition_name(t.group, t.version, t.list_kind)
        base = "/" + gv_key(t.group, t.version)

        def op(action: str, verb: str, write: bool, schema_name: str | None, code: str = "200") -> dict:
            out = {
                "operationId": f"{verb}{t.kind}",
                "description": f"{verb} {t.kind}",
                "consumes": ["*/*"],
                "produces": ["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"],
                "schemes": ["https"],
                "tags": [(t.group.replace(".k8s.io", "").replace(".", "_") or "core") + "_" + t.version],
                "parameters": copy.deepcopy(_WRITE_PARAMS) if write else [],
                "responses": {code: {"description": "OK", **({"schema": ref(schema_name)} if schema_name else {})}, "401": {"description": "Unauthorized"}},
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk,
            }
            if write:
                out["parameters"].insert(0, {"name": "body", "in": "body", "required": True, "schema": ref(name)})
            return out

        ns = [{"name": "namespace", "in": "path", "required": True, "type": "string", "uniqueItems": True, "description": "object name and auth scope, such as for teams and projects"}] if t.namespaced else []
        coll = f"{base}/namespaces/{{namespace}}/{t.plural}" if t.namespaced else f"{base}/{t.plural}"
        item = {}
        verbs = set(t.verbs)
        if "list" in verbs:
            item["get"] = op("list", "list", False, list_name)
        if "create" in verbs:
            item["post"] = op("post", "create", True, name, "201")
        if item:
            paths[coll] = {**item, "parameters": ns}
        item = {}
        if "get" in verbs:
            item["get"] = op("get", "read", False, name)
        if "update" in verbs:
            item["put"] = op("put", "replace", True, name)
        if "patch" in verbs:
            item["patch"] = op("patch", "patch", True, name)
            item["patch"]["consumes"] = ["application/json-patch+json", "application/merge-patch+json", "application/strategic-merge-patch+json", "application/apply-patch+yaml"]
            item["patch"]["parameters"][0]["schema"] = ref("io.k8s.apimachinery.pkg.apis.meta.v1.Patch")
        if "delete" in verbs:
            item["delete"] = op("delete", "delete", False, "io.k8s.apimachinery.pkg.apis.meta.v1.Status")
        if item and "get" in verbs:
            paths[coll + "/{name}"] = {**item, "parameters": [{"name": "name", "in": "path", "required": True, "type": "string", "uniqueItems": True, "description": f"name of the {t.kind}"}, *ns]}
    return paths


def gv_key(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


_COMMON = ["io.k8s.apimachinery.pkg.apis.meta.v1.Status", "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions", "io.k8s.apimachinery.pkg.apis.meta.v1.Patch", "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent"]


def _served_names(types: list[resources.ResourceType]) -> list[str]:
    names = []
    for t in types:
        for kind in (t.kind, t.list_kind):
            n = definition_name(t.group, t.version, kind)
            if n:
                names.append(n)
    return names


# ---- v2 ------------------------------------------------------------------------------------
def v2_json() -> dict:
    defs = definitions()
    types = list(resources.TYPES)
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": VERSION},
        "paths": _paths(types, lambda n: {"$ref": f"#/definitions/{n}"}),
        "definitions": closure(_served_names(types) + _COMMON, defs),
        "securityDefinitions": {"BearerToken": {"type": "apiKey", "name": "authorization", "in": "header", "description": "Bearer Token authentication"}},
        "security": [{"BearerToken": []}],
    }


# ---- v3 ------------------------------------------------------------------------------------
def _to_v3(s):
    """OpenAPI v2 schema -> v3: components references, and a reference with siblings (a
    description) wrapped in allOf, as kube-apiserver writes it."""
    if isinstance(s, list):
        return [_to_v3(v) for v in s]
    if not isinstance(s, dict):
        return s
    out = {k: ({n: _to_v3(p) for n, p in v.items()} if k == "properties" else _to_v3(v)) for k, v in s.items() if k != "$ref"}
    if isinstance(s.get("$ref"), str):
        ref = "#/components/schemas/" + s["$ref"].rsplit("/", 1)[-1]
        if out:
            out["allOf"] = [{"$ref": ref}]
        else:
            out["$ref"] = ref
    return out


def _v3_paths(paths: dict) -> dict:
    out = {}
    for path, item in paths.items():
        new = {}
        for verb, op in item.items():
            if verb == "parameters":
                new["parameters"] = [{"name": p["name"], "in": p["in"], "required": p.get("required", False), "description": p.get("description", ""), "schema": {"type": "string", "uniqueItems": True}} for p in op]
                continue
            o = {k: v for k, v in op.items() if k not in ("consumes", "produces", "schemes", "parameters", "responses")}
            o["parameters"] = [{"name": p["name"], "in": p["in"], "description": p.get("description", ""), "schema": {"type": "string", "uniqueItems": True}} for p in op["parameters"] if p["in"] != "body"]
            body = next((p for p in op["parameters"] if p["in"] == "body"), None)
            if body:
                o["requestBody"] = {"content": {m: {"schema": _to_v3(body["schema"])} for m in op["consumes"]}, "required": True}
            o["responses"] = {code: {"description": r["description"], **({"content": {m: {"schema": _to_v3(r["schema"])} for m in op["produces"]}} if "schema" in r else {})} for code, r in op["responses"].items()}
            new[verb] = o
        out[path] = new
    return out


def v3_json(group: str, version: str) -> dict | None:
    types = [t for t in resources.TYPES if t.group == group and t.version == version]
    if not types:
        return None
    defs = definitions()
    v2paths = _paths(types, lambda n: {"$ref": f"#/definitions/{n}"})
    schemas = closure(_served_names(types) + _COMMON, defs)
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": VERSION},
        "paths": _v3_paths(v2paths),
        "components": {
            "schemas": {n: _to_v3(s) for n, s in schemas.items()},
            "securitySchemes": {"BearerToken": {"type": "apiKey", "description": "Bearer Token authentication", "name": "authorization", "in": "header"}},
        },
    }


# ---- cached, hashed bodies -----------------------------------------------------------------
_CACHE: dict[str, tuple[str, bytes]] = {}


def _cached(key: str, build) -> tuple[str, bytes] | None:
    if key not in _CACHE:
        doc = build()
        if doc is None:
            return None
        body = doc if isinstance(doc, bytes) else json.dumps(doc, separators=(",", ":")).encode()
        _CACHE[key] = (hashlib.sha512(body).hexdigest().upper()[:128], body)
    return _CACHE[key]


def v2(protobuf: bool) -> tuple[str, bytes]:
    """(etag, body) of /openapi/v2 in JSON or as the gnostic protobuf message."""
    if protobuf:
        return _cached("v2.pb", lambda: gnostic.document(v2_json()))
    return _cached("v2.json", v2_json)


def document(gv_path: str) -> bytes | None:
    """The v3 document for 'api/v1' or 'apis/<group>/<version>'."""
    entry = _document(gv_path)
    return entry[1] if entry else None


def _document(gv_path: str) -> tuple[str, bytes] | None:
    parts = gv_path.split("/")
    if parts[0] == "api" and len(parts) == 2:
        group, version = "", parts[1]
    elif parts[0] == "apis" and len(parts) == 3:
        group, version = parts[1], parts[2]
    else:
        return None
    return _cached("v3:" + gv_path, lambda: v3_json(group, version))


def index() -> dict:
    out = {}
    for group, version in sorted({(t.group, t.version) for t in resources.TYPES}):
        key = gv_key(group, version)
        entry = _document(key)
        if entry:
            out[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={entry[0]}"}
    return {"paths": out}

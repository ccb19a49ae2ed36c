"""The OpenAPI v3 documents kubectl reads before it writes. kubectl only needs to learn that the
server validates fields itself (the `fieldValidation` query parameter on each kind's PATCH
operation): it then sends fieldValidation=Strict and skips client-side schema validation. The
sandbox serves exactly that much: paths and operations with their group-version-kind, no schemas.
(kubectl apply then builds strategic merge patches from its compiled-in types.)"""

from __future__ import annotations

import hashlib
import json

from tripgen_sandbox import resources

_PARAMS = [
    {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
    {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
    {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
]


def _gv_key(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _doc(group: str, version: str) -> dict:
    paths: dict[str, dict] = {}
    base = "/" + _gv_key(group, version)
    for t in resources.TYPES:
        if t.group != group or t.version != version:
            continue
        gvk = {"group": t.group, "version": t.version, "kind": t.kind}
        op = lambda action, verb: {  # noqa: E731
            "operationId": f"{verb}{t.kind}",
            "parameters": list(_PARAMS),
            "responses": {"200": {"description": "OK"}},
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": gvk,
        }
        coll = f"{base}/namespaces/{{namespace}}/{t.plural}" if t.namespaced else f"{base}/{t.plural}"
        paths[coll] = {"get": op("list", "list"), "post": op("post", "create")}
        paths[coll + "/{name}"] = {"get": op("get", "read"), "put": op("put", "replace"), "patch": op("patch", "patch"), "delete": op("delete", "delete")}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.29.4"}, "paths": paths, "components": {"schemas": {}}}


_CACHE: dict[str, tuple[str, bytes]] = {}


def document(gv_path: str) -> bytes | None:
    """The v3 document for 'api/v1' or 'apis/<group>/<version>'."""
    if gv_path not in _CACHE:
        parts = gv_path.split("/")
        if parts[0] == "api" and len(parts) == 2:
            group, version = "", parts[1]
        elif parts[0] == "apis" and len(parts) == 3:
            group, version = parts[1], parts[2]
        else:
            return None
        if not any(t.group == group and t.version == version for t in resources.TYPES):
            return None
        body = json.dumps(_doc(group, version)).encode()
        _CACHE[gv_path] = (hashlib.sha512(body).hexdigest().upper()[:128], body)
    return _CACHE[gv_path][1]


def index() -> dict:
    out = {}
    gvs = {(t.group, t.version) for t in resources.TYPES}
    for group, version in sorted(gvs):
        key = _gv_key(group, version)
        document(key)
        out[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={_CACHE[key][0]}"}
    return {"paths": out}

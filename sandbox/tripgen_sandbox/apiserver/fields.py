"""Unknown fields, found as kube-apiserver's strict decoder finds them, for the `fieldValidation`
query parameter: Strict refuses the request (400 `strict decoding error: unknown field "spec.x"`),
Warn (the default when the parameter is absent, as in 1.27+) answers with a `Warning` header per
field, Ignore drops them silently. The schema facts (which fields each kind has) come from the
1.29 JSON schemas the `kubernetes-validate` package ships, read once."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from tripgen_sandbox.apierrors import ApiError

MODES = ("Ignore", "Warn", "Strict")


@lru_cache(maxsize=1)
def _definitions() -> dict[str, dict]:
    try:
        import kubernetes_validate
    except ImportError:  # the schemas are optional: without them no field is unknown
        return {}
    base = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / "v1.29.0-local"
    data = json.loads((base / "_definitions.json").read_text())
    return data.get("$defs") or data.get("definitions") or {}


@lru_cache(maxsize=1)
def _by_kind() -> dict[tuple[str, str], str]:
    out = {}
    for name, d in _definitions().items():
        for gvk in d.get("x-kubernetes-group-version-kind") or []:
            gv = f"{gvk['group']}/{gvk['version']}" if gvk.get("group") else gvk["version"]
            out[(gv, gvk["kind"])] = name
    return out


def _resolve(schema: dict) -> dict:
    seen = 0
    while "$ref" in schema and seen < 20:
        schema = _definitions().get(schema["$ref"].rsplit("/", 1)[-1], {})
        seen += 1
    return schema


def _is_directive(key: str) -> bool:
    """Strategic-merge-patch directives ($patch, $setElementOrder/…, $retainKeys, …)."""
    return key.startswith("$")


def _walk(value: Any, schema: dict, path: str, out: list[str], prune: bool = False) -> None:
    schema = _resolve(schema)
    if isinstance(value, dict):
        props = schema.get("properties")
        if props is not None:
            for k, v in list(value.items()):
                if _is_directive(k):
                    continue
                p = f"{path}.{k}" if path else k
                if k not in props:
                    out.append(p)
                    if prune:  # decoding into the Go type drops what it does not declare
                        del value[k]
                else:
                    _walk(v, props[k], p, out, prune)
        elif isinstance(schema.get("additionalProperties"), dict):
            for k, v in value.items():
                if not _is_directive(k):
                    _walk(v, schema["additionalProperties"], f"{path}.{k}", out, prune)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            _walk(item, schema["items"], f"{path}[{i}]", out, prune)


def unknown_fields(api_version: str, kind: str, body: Any, prune: bool = False) -> list[str]:
    """Paths of the fields of `body` its kind's 1.29 schema does not declare, in body order
    (removed from `body` with prune)."""
    name = _by_kind().get((api_version, kind))
    if name is None or not isinstance(body, dict):
        return []
    out: list[str] = []
    _walk(body, _definitions()[name], "", out, prune)
    return out


def mode(query) -> str:
    value = query.get("fieldValidation")
    if value is None or value == "":
        return "Warn"
    if value not in MODES:
        raise ApiError(400, f'fieldValidation parameter unsupported value: "{value}": supported values: "Ignore", "Strict", "Warn"')
    return value


def check(query, api_version: str, kind: str, body: Any, apply: bool = False) -> list[str]:
    """Warnings to send (Warn), or raise 400 (Strict); Warn and Ignore drop the unknown fields
    from `body`, as decoding does. Server-side apply words it as the structured-merge-diff
    schema check does."""
    m = mode(query)
    unknown = unknown_fields(api_version, kind, body, prune=m != "Strict")
    if not unknown or m == "Ignore":
        return []
    if apply:
        texts = [f".{p}: field not declared in schema" for p in unknown]
    else:
        texts = [f'unknown field "{p}"' for p in unknown]
    if m == "Strict":
        if apply:
            raise ApiError(400, "failed to create typed patch object: " + "; ".join(texts), "BadRequest")
        raise ApiError(400, "strict decoding error: " + ", ".join(texts), "BadRequest")
    return texts


def warning_headers(texts: list[str]) -> list[tuple[str, str]]:
    """One `Warning` header per warning, RFC 7234 warn-code 299 with the agent `-`, as
    kube-apiserver writes them."""
    return [("Warning", '299 - "' + t.replace("\\", "\\\\").replace('"', '\\"') + '"') for t in texts]

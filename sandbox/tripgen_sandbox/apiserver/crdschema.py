"""Structural schemas of CustomResourceDefinitions, as apiextensions-apiserver uses them: the
structural check of a CRD's `openAPIV3Schema`, and for each custom resource defaulting (`default`),
pruning of fields the schema does not know (unless `x-kubernetes-preserve-unknown-fields`), and
validation (type, required, enum, bounds, lengths, pattern, items, nullable, int-or-string).
Errors are (field path, message) pairs in kube-apiserver's words, e.g.
`spec.replicas: Invalid value: "two": spec.replicas in body must be of type integer: "two"`.
CEL rules (`x-kubernetes-validations`) are not evaluated."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

Causes = list[tuple[str, str]]

_META_FIELDS = {"apiVersion", "kind", "metadata"}


def _go_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def _show(v: Any) -> str:
    return json.dumps(v) if isinstance(v, str) else json.dumps(v, separators=(",", ":")) if isinstance(v, (list, dict)) else str(v).lower() if isinstance(v, bool) else str(v)


# ---- the CRD's own schema ------------------------------------------------------------------
def structural_errors(schema: Any, path: str = "spec.validation.openAPIV3Schema", root: bool = True) -> Causes:
    """Why a schema is not structural (empty when it is)."""
    out: Causes = []
    if not isinstance(schema, dict):
        return [(path, "Required value: must be an object")]
    typed = "type" in schema
    if root and schema.get("type") != "object" and not schema.get("x-kubernetes-preserve-unknown-fields"):
        out.append((f"{path}.type", "Unsupported value: \"" + str(schema.get("type", "")) + "\": supported values: \"object\"" if typed else "Required value: must be object at the root"))
    elif not typed and not schema.get("x-kubernetes-int-or-string") and not schema.get("x-kubernetes-preserve-unknown-fields"):
        out.append((f"{path}.type", "Required value: must not be empty for specified object fields"))
    if typed and schema["type"] not in ("object", "array", "string", "integer", "number", "boolean"):
        out.append((f"{path}.type", f'Unsupported value: "{schema["type"]}"'))
    for name, sub in (schema.get("properties") or {}).items():
        if root and name == "metadata" and isinstance(sub, dict) and set(sub) - {"type", "description", "properties"}:
            out.append((f"{path}.properties[metadata]", "Forbidden: must not specify anything other than name and generateName, but metadata is implicitly specified"))
        out += structural_errors(sub, f"{path}.properties[{name}]", False)
    if isinstance(schema.get("items"), dict):
        out += structural_errors(schema["items"], f"{path}.items", False)
    elif schema.get("type") == "array":
        out.append((f"{path}.items", "Required value: must be specified"))
    if isinstance(schema.get("additionalProperties"), dict):
        if schema.get("properties"):
            out.append((f"{path}.additionalProperties", "Forbidden: additionalProperties and properties are mutual exclusive"))
        out += structural_errors(schema["additionalProperties"], f"{path}.additionalProperties", False)
    return out


# ---- custom resources ----------------------------------------------------------------------
def default(obj: Any, schema: dict) -> None:
    """Fill `default`s of absent properties, depth first, as the API server does on write."""
    if not isinstance(obj, dict) or not isinstance(schema, dict):
        if isinstance(obj, list) and isinstance(schema, dict) and isinstance(schema.get("items"), dict):
            for v in obj:
                default(v, schema["items"])
        return
    for name, sub in (schema.get("properties") or {}).items():
        if name not in obj and isinstance(sub, dict) and "default" in sub:
            obj[name] = copy.deepcopy(sub["default"])
        if name in obj:
            default(obj[name], sub)
    if isinstance(schema.get("additionalProperties"), dict):
        for name, v in obj.items():
            if name not in (schema.get("properties") or {}):
                default(v, schema["additionalProperties"])


def prune(obj: Any, schema: dict, path: str = "", root: bool = True) -> list[str]:
    """Drop fields the schema does not specify; returns their paths (for fieldValidation)."""
    dropped: list[str] = []
    if not isinstance(schema, dict) or schema.get("x-kubernetes-preserve-unknown-fields"):
        return dropped
    if isinstance(obj, dict) and schema.get("type", "object") == "object" or (isinstance(obj, dict) and "properties" in schema):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for name in list(obj):
            child = f"{path}.{name}" if path else name
            if root and name in _META_FIELDS:
                continue
            if name in props:
                dropped += prune(obj[name], props[name], child, False)
            elif isinstance(extra, dict):
                dropped += prune(obj[name], extra, child, False)
            elif extra is True:
                continue
            else:
                del obj[name]
                dropped.append(child)
    elif isinstance(obj, list) and isinstance(schema.get("items"), dict):
        for i, v in enumerate(obj):
            dropped += prune(v, schema["items"], f"{path}[{i}]", False)
    return dropped


def validate(obj: Any, schema: dict, path: str = "", root: bool = True) -> Causes:
    out: Causes = []
    if not isinstance(schema, dict):
        return out
    where = path or "<root>"
    if obj is None:
        if schema.get("nullable") or root:
            return out
        return [(where, f'Invalid value: "null": {where} in body must be of type {schema.get("type", "object")}: "null"')]
    want = schema.get("type")
    got = _go_type(obj)
    if schema.get("x-kubernetes-int-or-string"):
        if got not in ("integer", "string"):
            return [(where, f"Invalid value: {_show(obj)}: {where} in body must be of type integer-or-string: {_show(obj)}" )]
    elif want and got != want and not (want == "number" and got == "integer"):
        return [(where, f'Invalid value: "{got}": {where} in body must be of type {want}: "{got}"')]
    if "enum" in schema and obj not in schema["enum"]:
        allowed = ", ".join(_show(v) for v in schema["enum"])
        out.append((where, f"Unsupported value: {_show(obj)}: supported values: {allowed}"))
    if isinstance(obj, (int, float)) and not isinstance(obj, bool):
        if "maximum" in schema and (obj > schema["maximum"] or (schema.get("exclusiveMaximum") and obj == schema["maximum"])):
            out.append((where, f"Invalid value: {_show(obj)}: {where} in body should be less than {'' if schema.get('exclusiveMaximum') else 'or equal to '}{_show(schema['maximum'])}"))
        if "minimum" in schema and (obj < schema["minimum"] or (schema.get("exclusiveMinimum") and obj == schema["minimum"])):
            out.append((where, f"Invalid value: {_show(obj)}: {where} in body should be greater than {'' if schema.get('exclusiveMinimum') else 'or equal to '}{_show(schema['minimum'])}"))
        if "multipleOf" in schema and schema["multipleOf"] and obj % schema["multipleOf"]:
            out.append((where, f"Invalid value: {_show(obj)}: {where} in body should be a multiple of {_show(schema['multipleOf'])}"))
    if isinstance(obj, str):
        if "maxLength" in schema and len(obj) > schema["maxLength"]:
            out.append((where, f"Too long: may not be longer than {schema['maxLength']}"))
        if "minLength" in schema and len(obj) < schema["minLength"]:
            out.append((where, f"Invalid value: {_show(obj)}: {where} in body should be at least {schema['minLength']} chars long"))
        if "pattern" in schema and not re.search(schema["pattern"], obj):
            out.append((where, f"Invalid value: {_show(obj)}: {where} in body should match '{schema['pattern']}'"))
    if isinstance(obj, list):
        if "maxItems" in schema and len(obj) > schema["maxItems"]:
            out.append((where, f"Too many: {len(obj)}: must have at most {schema['maxItems']} items"))
        if "minItems" in schema and len(obj) < schema["minItems"]:
            out.append((where, f"Invalid value: {len(obj)}: {where} in body should have at least {schema['minItems']} items"))
        if isinstance(schema.get("items"), dict):
            for i, v in enumerate(obj):
                out += validate(v, schema["items"], f"{path}[{i}]", False)
    if isinstance(obj, dict):
        props = schema.get("properties") or {}
        for req in schema.get("required") or ():
            if req not in obj:
                child = f"{path}.{req}" if path else req
                out.append((child, "Required value"))
        if "maxProperties" in schema and len(obj) > schema["maxProperties"]:
            out.append((where, f"Too many: {len(obj)}: must have at most {schema['maxProperties']} items"))
        if "minProperties" in schema and len(obj) < schema["minProperties"]:
            out.append((where, f"Invalid value: {len(obj)}: {where} in body should have at least {schema['minProperties']} properties"))
        extra = schema.get("additionalProperties")
        for name, v in obj.items():
            if root and name in _META_FIELDS:
                continue
            child = f"{path}.{name}" if path else name
            if name in props:
                out += validate(v, props[name], child, False)
            elif isinstance(extra, dict):
                out += validate(v, extra, child, False)
    for sub in schema.get("allOf") or ():
        out += validate(obj, sub, path, root)
    if schema.get("anyOf") and not any(not validate(obj, s, path, root) for s in schema["anyOf"]):
        out.append((where, f"Invalid value: {_show(obj)}: {where} in body must validate at least one schema (anyOf)"))
    if schema.get("oneOf") and sum(1 for s in schema["oneOf"] if not validate(obj, s, path, root)) != 1:
        out.append((where, f"Invalid value: {_show(obj)}: {where} in body must validate one and only one schema (oneOf)"))
    if isinstance(schema.get("not"), dict) and not validate(obj, schema["not"], path, root):
        out.append((where, f"Invalid value: {_show(obj)}: {where} in body should not be valid against the given schema"))
    return out

"""The OpenAPI v2 document as kube-apiserver sends it to kubectl <= 1.28: the gnostic
`openapi.v2.Document` protobuf message (Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf).
Those kubectl versions only ever ask for this encoding and unmarshal the answer as protobuf, so a
JSON answer would not do. Field numbers are those of gnostic's OpenAPIv2.proto; only the parts of
the document the sandbox produces are encoded (info, paths with their operations, parameters and
responses, definitions). Vendor extensions and enum values travel as YAML text (gnostic's `Any.yaml`),
which is how kube-openapi reads them back."""

from __future__ import annotations

import json

from tripgen_sandbox.apiserver.pbwire import f_bytes, f_string, f_varint

MEDIA_TYPE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"


def _any(value) -> bytes:
    return f_string(2, json.dumps(value))  # Any.yaml: JSON is YAML


def _extensions(num: int, obj: dict) -> bytes:
    out = b""
    for name, value in obj.items():
        if name.startswith("x-"):
            out += f_bytes(num, f_string(1, name) + f_bytes(2, _any(value)))
    return out


def schema(s: dict) -> bytes:
    out = b""
    if "$ref" in s:
        out += f_string(1, s["$ref"])
    for num, name in ((2, "format"), (3, "title"), (4, "description")):
        if name in s:
            out += f_string(num, s[name])
    if "default" in s:
        out += f_bytes(5, _any(s["default"]))
    for req in s.get("required", ()):
        out += f_string(19, req)
    for value in s.get("enum", ()):
        out += f_bytes(20, _any(value))
    ap = s.get("additionalProperties")
    if isinstance(ap, dict):
        out += f_bytes(21, f_bytes(1, schema(ap)))
    elif isinstance(ap, bool):
        out += f_bytes(21, f_varint(2, ap))
    if "type" in s:
        out += f_bytes(22, f_string(1, s["type"]))
    if isinstance(s.get("items"), dict):
        out += f_bytes(23, f_bytes(1, schema(s["items"])))
    for sub in s.get("allOf", ()):
        out += f_bytes(24, schema(sub))
    if "properties" in s:
        props = b"".join(f_bytes(1, f_string(1, n) + f_bytes(2, schema(p))) for n, p in s["properties"].items())
        out += f_bytes(25, props)
    return out + _extensions(31, s)


def _parameter(p: dict) -> bytes:
    if p.get("in") == "body":
        body = f_string(1, p.get("description", "")) + f_string(2, p["name"]) + f_string(3, "body") + f_varint(4, p.get("required", False)) + f_bytes(5, schema(p.get("schema", {})))
        return f_bytes(1, f_bytes(1, body))
    common = f_varint(1, p.get("required", False)) + f_string(2, p["in"]) + f_string(3, p.get("description", "")) + f_string(4, p["name"])
    if p["in"] == "query":  # QueryParameterSubSchema: type 6, uniqueItems 20
        sub = 3
        common += f_string(6, p.get("type", "string")) + (f_varint(20, True) if p.get("uniqueItems") else b"")
    else:  # PathParameterSubSchema: type 5, uniqueItems 19
        sub = 4
        common += f_string(5, p.get("type", "string")) + (f_varint(19, True) if p.get("uniqueItems") else b"")
    return f_bytes(1, f_bytes(2, f_bytes(sub, common)))


def _operation(op: dict) -> bytes:
    out = b"".join(f_string(1, t) for t in op.get("tags", ()))
    if "description" in op:
        out += f_string(3, op["description"])
    out += f_string(5, op.get("operationId", ""))
    out += b"".join(f_string(6, m) for m in op.get("produces", ()))
    out += b"".join(f_string(7, m) for m in op.get("consumes", ()))
    out += b"".join(f_bytes(8, _parameter(p)) for p in op.get("parameters", ()))
    responses = b""
    for code, r in op.get("responses", {}).items():
        resp = f_string(1, r.get("description", ""))
        if "schema" in r:
            resp += f_bytes(2, f_bytes(1, schema(r["schema"])))
        responses += f_bytes(1, f_string(1, code) + f_bytes(2, f_bytes(1, resp)))
    out += f_bytes(9, responses)
    out += b"".join(f_string(10, s) for s in op.get("schemes", ()))
    return out + _extensions(13, op)


_VERBS = {"get": 2, "put": 3, "post": 4, "delete": 5, "options": 6, "head": 7, "patch": 8}


def document(doc: dict) -> bytes:
    """A Swagger 2.0 document (as JSON-like dict) -> gnostic Document message bytes."""
    info = doc.get("info", {})
    out = f_string(1, doc.get("swagger", "2.0")) + f_bytes(2, f_string(1, info.get("title", "")) + f_string(2, info.get("version", "")))
    paths = b""
    for path, item in doc.get("paths", {}).items():
        body = b""
        for verb, num in _VERBS.items():
            if verb in item:
                body += f_bytes(num, _operation(item[verb]))
        body += b"".join(f_bytes(9, _parameter(p)) for p in item.get("parameters", ()))
        paths += f_bytes(2, f_string(1, path) + f_bytes(2, body))
    out += f_bytes(8, paths)
    defs = b"".join(f_bytes(1, f_string(1, n) + f_bytes(2, schema(s))) for n, s in doc.get("definitions", {}).items())
    return out + f_bytes(9, defs)

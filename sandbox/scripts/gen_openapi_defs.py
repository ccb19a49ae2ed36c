"""Derive the sandbox's OpenAPI definitions (sandbox/tripgen_sandbox/data/openapi-defs.json.gz)
from the JSON schemas that the `kubernetes-validate` package ships for one Kubernetes version.

kubernetes-validate turned kube-apiserver's OpenAPI v2 definitions into JSON Schema (nullable type
lists, `#/$defs/` references, int-or-string and Quantity as `oneOf`); this script turns them back
into OpenAPI v2 form (one type, `#/definitions/` references, `format: int-or-string`), which is
what kube-apiserver serves and what kubectl's explain/apply read. Run it again after moving the
sandbox to another Kubernetes minor:

    .venv/bin/python sandbox/scripts/gen_openapi_defs.py 1.29
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import kubernetes_validate

OUT = Path(__file__).resolve().parents[1] / "tripgen_sandbox" / "data" / "openapi-defs.json.gz"

# kubernetes-validate drops these two descriptions with the oneOf rewrite; these are the API's words.
DESCRIPTIONS = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": "IntOrString is a type that can hold an int32 or a string.  When used in JSON or YAML marshalling and unmarshalling, it produces or consumes the inner type.  This allows you to have, for example, a JSON field that can accept a name or number.",
    "io.k8s.apimachinery.pkg.api.resource.Quantity": "Quantity is a fixed-point representation of a number. It provides convenient marshaling/unmarshaling in JSON and YAML, in addition to String() and AsInt64() accessors.",
}


def _ref(ref: str) -> str:
    return "#/definitions/" + ref.rsplit("/", 1)[-1]


def normalize(schema, top_property: str | None = None):
    if isinstance(schema, list):
        return [normalize(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    one_of = schema.get("oneOf")
    if one_of:
        kinds = sorted({t for alt in one_of for t in ([alt["type"]] if isinstance(alt.get("type"), str) else alt.get("type", [])) if t != "null"})
        out["type"] = "string"
        if kinds == ["integer", "string"]:
            out["format"] = "int-or-string"
    for key, value in schema.items():
        if key == "oneOf":
            continue
        if key == "type":
            types = [value] if isinstance(value, str) else [t for t in value if t != "null"]
            if types:
                out["type"] = types[0]
        elif key == "$ref":
            out["$ref"] = _ref(value)
        elif key == "enum":
            if top_property in ("apiVersion", "kind"):
                continue  # added by kubernetes-validate; kube-apiserver's schemas carry no such enum
            out["enum"] = [v for v in value if v is not None]
        elif key == "properties":
            out["properties"] = {name: normalize(p, name) for name, p in value.items()}
        elif key in ("items", "additionalProperties", "allOf", "anyOf", "not"):
            out[key] = normalize(value)
        else:
            out[key] = value
    return out


def main(version: str) -> None:
    root = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / f"v{version}.0-local" / "_definitions.json"
    defs = json.loads(root.read_text())["$defs"]
    out = {}
    for name in sorted(defs):
        schema = normalize(defs[name])
        if name in DESCRIPTIONS and "description" not in schema:
            schema = {"description": DESCRIPTIONS[name], **schema}
        out[name] = schema
    doc = {"kubernetesVersion": version, "definitions": out}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_bytes(gzip.compress(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode(), mtime=0))
    print(f"{OUT}: {len(out)} definitions from kubernetes-validate {version}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "1.29")

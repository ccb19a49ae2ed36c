"""Kubernetes protobuf request bodies (application/vnd.kubernetes.protobuf), for the writes that
kubectl >= 1.31 sends that way: its `create namespace|configmap|secret|serviceaccount`
generators, the DeleteOptions of `delete`, and the reviews of `auth can-i|whoami`. The envelope is "k8s\\0" + runtime.Unknown
{typeMeta, raw}; `raw` is the object's message. Only the kinds listed in SCHEMAS are decoded;
any other protobuf body is answered 415 so the client sees a clear error instead of a wrong object.

Field numbers are those of the published Kubernetes API IDL (k8s.io/api, k8s.io/apimachinery)."""

from __future__ import annotations

import base64
from typing import Any

from tripgen_sandbox.apierrors import ApiError

MAGIC = b"k8s\x00"

# message schema: field number -> (json name, type). Types: "string", "int", "bool", "bytes",
# "time" (metav1.Time = {seconds, nanos}), ("msg", SCHEMA_NAME), ("map", value_type),
# ("list", type) for repeated fields.
SCHEMAS: dict[str, dict[int, tuple[str, Any]]] = {
    "TypeMeta": {1: ("apiVersion", "string"), 2: ("kind", "string")},
    "Unknown": {1: ("typeMeta", ("msg", "TypeMeta")), 2: ("raw", "bytes"), 3: ("contentEncoding", "string"), 4: ("contentType", "string")},
    "ObjectMeta": {
        1: ("name", "string"), 2: ("generateName", "string"), 3: ("namespace", "string"), 5: ("uid", "string"),
        6: ("resourceVersion", "string"), 7: ("generation", "int"), 11: ("labels", ("map", "string")),
        12: ("annotations", ("map", "string")), 13: ("ownerReferences", ("list", ("msg", "OwnerReference"))),
        14: ("finalizers", ("list", "string")),
    },
    "OwnerReference": {1: ("kind", "string"), 3: ("name", "string"), 4: ("uid", "string"), 5: ("apiVersion", "string"), 6: ("controller", "bool"), 7: ("blockOwnerDeletion", "bool")},
    "Namespace": {1: ("metadata", ("msg", "ObjectMeta")), 2: ("spec", ("msg", "NamespaceSpec"))},
    "NamespaceSpec": {1: ("finalizers", ("list", "string"))},
    "ConfigMap": {1: ("metadata", ("msg", "ObjectMeta")), 2: ("data", ("map", "string")), 3: ("binaryData", ("map", "bytes")), 4: ("immutable", "bool")},
    "Secret": {1: ("metadata", ("msg", "ObjectMeta")), 2: ("data", ("map", "bytes")), 3: ("type", "string"), 4: ("stringData", ("map", "string")), 5: ("immutable", "bool")},
    "ServiceAccount": {1: ("metadata", ("msg", "ObjectMeta")), 4: ("automountServiceAccountToken", "bool")},
    "Preconditions": {1: ("uid", "string"), 2: ("resourceVersion", "string")},
    # authorization.k8s.io / authentication.k8s.io reviews (`kubectl auth can-i`, `auth whoami`)
    "ResourceAttributes": {1: ("namespace", "string"), 2: ("verb", "string"), 3: ("group", "string"), 4: ("version", "string"),
                           5: ("resource", "string"), 6: ("subresource", "string"), 7: ("name", "string")},
    "NonResourceAttributes": {1: ("path", "string"), 2: ("verb", "string")},
    "SelfSubjectAccessReviewSpec": {1: ("resourceAttributes", ("msg", "ResourceAttributes")), 2: ("nonResourceAttributes", ("msg", "NonResourceAttributes"))},
    "SelfSubjectAccessReview": {1: ("metadata", ("msg", "ObjectMeta")), 2: ("spec", ("msg", "SelfSubjectAccessReviewSpec"))},
    "SelfSubjectRulesReviewSpec": {1: ("namespace", "string")},
    "SelfSubjectRulesReview": {1: ("metadata", ("msg", "ObjectMeta")), 2: ("spec", ("msg", "SelfSubjectRulesReviewSpec"))},
    "SelfSubjectReview": {1: ("metadata", ("msg", "ObjectMeta"))},
    "DeleteOptions": {
        1: ("gracePeriodSeconds", "int"), 2: ("preconditions", ("msg", "Preconditions")), 3: ("orphanDependents", "bool"),
        4: ("propagationPolicy", "string"), 5: ("dryRun", ("list", "string")),
    },
}


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if i >= len(buf):
            raise ValueError("truncated varint")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def fields(buf: bytes) -> list[tuple[int, int, Any]]:
    """Raw wire decoding: [(field number, wire type, value)]; value is int or bytes."""
    out = []
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            val, i = _varint(buf, i)
        elif wt == 2:
            n, i = _varint(buf, i)
            val, i = buf[i : i + n], i + n
        elif wt == 1:
            val, i = int.from_bytes(buf[i : i + 8], "little"), i + 8
        elif wt == 5:
            val, i = int.from_bytes(buf[i : i + 4], "little"), i + 4
        else:
            raise ValueError(f"unsupported wire type {wt}")
        out.append((num, wt, val))
    return out


def _scalar(kind: str, value: Any) -> Any:
    if kind == "string":
        return value.decode("utf-8")
    if kind == "bytes":
        return base64.b64encode(value).decode()  # JSON form of []byte
    if kind == "bool":
        return bool(value)
    if kind == "int":
        return value - (1 << 64) if value >= 1 << 63 else value
    raise ValueError(kind)


def _decode_value(kind: Any, value: Any) -> Any:
    if isinstance(kind, tuple) and kind[0] == "msg":
        return decode_message(kind[1], value)
    return _scalar(kind, value)


def decode_message(schema: str, buf: bytes) -> dict:
    spec = SCHEMAS[schema]
    out: dict[str, Any] = {}
    for num, _, value in fields(buf):
        if num not in spec:
            continue  # a field the sandbox does not model: ignored, as an old server would
        name, kind = spec[num]
        if isinstance(kind, tuple) and kind[0] == "map":
            entry = {n: v for n, _, v in fields(value)}
            out.setdefault(name, {})[entry.get(1, b"").decode()] = _scalar(kind[1], entry.get(2, b"" if kind[1] != "bool" else 0))
        elif isinstance(kind, tuple) and kind[0] == "list":
            out.setdefault(name, []).append(_decode_value(kind[1], value))
        else:
            out[name] = _decode_value(kind, value)
    return out


def decode_body(raw: bytes) -> dict:
    """A protobuf request body as the JSON object the API server would have received."""
    if not raw.startswith(MAGIC):
        raise ApiError(400, "protobuf body without the k8s envelope")
    unknown = decode_message("Unknown", raw[len(MAGIC):])
    tm = unknown.get("typeMeta", {})
    kind = tm.get("kind", "")
    if kind not in SCHEMAS or kind in ("TypeMeta", "Unknown", "ObjectMeta", "OwnerReference", "Preconditions") or kind.endswith(("Spec", "Attributes")):
        raise ApiError(
            415,
            f"the sandbox cannot decode protobuf {kind or 'objects'}; send JSON (kubectl 1.29, or -o yaml | kubectl apply -f -)",
            "UnsupportedMediaType",
        )
    obj = decode_message(kind, base64.b64decode(unknown.get("raw", "")))
    if tm.get("apiVersion"):
        obj["apiVersion"] = tm["apiVersion"]
    obj["kind"] = kind
    return obj

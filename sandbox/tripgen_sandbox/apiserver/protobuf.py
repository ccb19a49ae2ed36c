"""Kubernetes protobuf (application/vnd.kubernetes.protobuf), both ways, for every kind whose
message the published API defines: request bodies are decoded into the JSON object the API
server would have received, and answers are encoded when the client prefers protobuf (client-go
typed clients, kubectl >= 1.31's `create` generators). The envelope is "k8s\\0" + runtime.Unknown
{typeMeta, raw}; `raw` is the object's message.

Field numbers, wire types, JSON names, `inline` and `omitempty` come from data/protobuf-fields.json.gz,
derived from k8s.io/api, k8s.io/apimachinery and k8s.io/apiextensions-apiserver by
sandbox/scripts/gen_protobuf_table.py. The messages whose protobuf form differs from their JSON
form (Time, MicroTime, Duration, Quantity, IntOrString, FieldsV1, RawExtension, the
apiextensions JSON and JSONSchemaProps* unions, named slices) are mapped here. Decoding follows
encoding/json: an omitempty non-pointer field at its zero value is left out, a pointer keeps its
zero (`replicas: 0`)."""

from __future__ import annotations

import base64
import gzip
import json
import struct
from datetime import datetime, timezone
from functools import lru_cache
from importlib import resources as pkg_resources
from typing import Any

from tripgen_sandbox.apierrors import ApiError
from tripgen_sandbox.apiserver.pbwire import f_bytes, f_double, f_string, f_varint, key

MAGIC = b"k8s\x00"
MEDIA_TYPE = "application/vnd.kubernetes.protobuf"

META = "k8s.io.apimachinery.pkg.apis.meta.v1."
TIME, MICROTIME, DURATION, FIELDSV1 = META + "Time", META + "MicroTime", META + "Duration", META + "FieldsV1"
QUANTITY = "k8s.io.apimachinery.pkg.api.resource.Quantity"
INTORSTRING = "k8s.io.apimachinery.pkg.util.intstr.IntOrString"
RAWEXT = "k8s.io.apimachinery.pkg.runtime.RawExtension"
UNKNOWN = "k8s.io.apimachinery.pkg.runtime.Unknown"
APIEXT = "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1."
JSONRAW = {RAWEXT, APIEXT + "JSON", FIELDSV1}
UNIONS = {APIEXT + "JSONSchemaPropsOrBool": "bool", APIEXT + "JSONSchemaPropsOrArray": "array", APIEXT + "JSONSchemaPropsOrStringArray": "strings"}


@lru_cache(maxsize=1)
def table() -> dict[str, dict]:
    raw = pkg_resources.files("tripgen_sandbox").joinpath("data/protobuf-fields.json.gz").read_bytes()
    return json.loads(gzip.decompress(raw))


def message_for(api_version: str, kind: str) -> str | None:
    """The protobuf message of an API kind, or None (custom resources, metrics: JSON only)."""
    group, _, version = api_version.rpartition("/")
    if group in ("", "meta.k8s.io"):
        candidates = [f"k8s.io.api.core.{version}.{kind}", f"{META[:-3]}{version}.{kind}"]
    elif group == "apiextensions.k8s.io":
        candidates = [f"k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.{version}.{kind}"]
    elif group.endswith(".k8s.io") or "." not in group:
        candidates = [f"k8s.io.api.{group.split('.')[0]}.{version}.{kind}"]
    else:
        return None
    t = table()
    return next((c for c in candidates if c in t), None)


# ---- wire decoding -------------------------------------------------------------------------
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
        k, i = _varint(buf, i)
        num, wt = k >> 3, k & 7
        if wt == 0:
            val, i = _varint(buf, i)
        elif wt == 2:
            n, i = _varint(buf, i)
            if i + n > len(buf):
                raise ValueError("truncated field")
            val, i = buf[i : i + n], i + n
        elif wt == 1:
            val, i = buf[i : i + 8], i + 8
        elif wt == 5:
            val, i = buf[i : i + 4], i + 4
        else:
            raise ValueError(f"unsupported wire type {wt}")
        out.append((num, wt, val))
    return out


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _scalar(typ: str, wt: int, value: Any) -> list:
    """One wire value -> the JSON values it holds (a packed repeated field holds several)."""
    if typ == "string":
        return [value.decode("utf-8")]
    if typ == "bytes":
        return [base64.b64encode(value).decode()]
    if typ in ("double", "float"):
        if wt == 2:  # packed
            size = 8 if typ == "double" else 4
            return [struct.unpack("<d" if size == 8 else "<f", value[j : j + size])[0] for j in range(0, len(value), size)]
        return [struct.unpack("<d" if typ == "double" else "<f", value)[0]]
    if wt == 2:  # packed varints
        vals, j = [], 0
        while j < len(value):
            v, j = _varint(value, j)
            vals.append(v)
    else:
        vals = [value]
    if typ == "bool":
        return [bool(v) for v in vals]
    return [_signed(v) for v in vals]


def _rfc3339(seconds: int, nanos: int, micro: bool) -> str | None:
    if not seconds and not nanos:
        return None
    t = datetime.fromtimestamp(seconds, tz=timezone.utc)
    if micro:
        return t.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos // 1000:06d}Z"
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _go_duration(ns: int) -> str:
    """time.Duration.String()."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size:
                return sign + f"{ns / size:.9f}".rstrip("0").rstrip(".") + unit
    h, rem = divmod(ns, 3_600_000_000_000)
    m, rem = divmod(rem, 60_000_000_000)
    s = f"{rem / 1e9:.9f}".rstrip("0").rstrip(".")
    out = (f"{h}h" if h else "") + (f"{m}m" if h or m else "") + f"{s}s"
    return sign + out


def _parse_go_duration(text: str) -> int:
    import re

    units = {"h": 3_600_000_000_000, "m": 60_000_000_000, "s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "µs": 1_000, "ns": 1}
    sign = -1 if text.startswith("-") else 1
    total = 0.0
    for num, unit in re.findall(r"([\d.]+)(h|ms|us|µs|ns|m|s)", text):
        total += float(num) * units[unit]
    return sign * int(total)


def decode_message(name: str, buf: bytes) -> Any:
    raw = fields(buf)
    if name in (TIME, MICROTIME):
        vals = {n: v for n, _, v in raw}
        return _rfc3339(_signed(vals.get(1, 0)), vals.get(2, 0), name == MICROTIME)
    if name == DURATION:
        return _go_duration(_signed(next((v for n, _, v in raw if n == 1), 0)))
    if name == QUANTITY:
        return next((v.decode() for n, _, v in raw if n == 1), "0")
    if name == INTORSTRING:
        vals = {n: v for n, _, v in raw}
        return vals.get(3, b"").decode() if vals.get(1, 0) == 1 else _signed(vals.get(2, 0))
    if name in JSONRAW:
        data = next((v for n, _, v in raw if n == 1), b"")
        return json.loads(data) if data else ({} if name == FIELDSV1 else None)
    if name in UNIONS:
        return _decode_union(name, raw)
    spec = table().get(name)
    if spec is None:
        raise ValueError(f"no message {name}")
    by_num = {f[0]: f for f in spec["f"]}
    out: dict[str, Any] = {}
    inline: list[dict] = []
    for num, wt, value in raw:
        f = by_num.get(num)
        if f is None:
            continue  # a field newer than the table: ignored, as an older server would
        _, jname, typ, flags = f
        if "-" in flags:
            continue
        if isinstance(typ, list):  # map entry
            entry = {n: (w, v) for n, w, v in fields(value)}
            k = entry.get(1, (2, b""))[1]
            kv = k.decode() if isinstance(k, bytes) else str(k)
            vt = typ[2]
            if 2 in entry:
                w, v = entry[2]
                val = decode_message(vt[2:], v) if vt.startswith("m:") else _scalar(vt, w, v)[0]
            else:
                val = decode_message(vt[2:], b"") if vt.startswith("m:") else {"string": "", "bytes": "", "bool": False}.get(vt, 0)
            out.setdefault(jname, {})[kv] = val
            continue
        if typ.startswith("m:"):
            vals = [decode_message(typ[2:], value)]
        else:
            vals = _scalar(typ, wt, value)
        if "i" in flags:
            inline += [v for v in vals if isinstance(v, dict)]
        elif "r" in flags:
            out.setdefault(jname, []).extend(vals)
        else:
            out[jname] = vals[-1]
    for f in spec["f"]:  # encoding/json: omitempty drops a non-pointer zero; a zero time is null
        jname, typ, flags = f[1], f[2], f[3]
        if jname in out:
            v = out[jname]
            if v is None or ("o" in flags and "p" not in flags and not (isinstance(typ, str) and typ.startswith("m:") and isinstance(v, dict)) and v in ("", 0, False, [], {})):
                if not (v is False and "p" in flags):
                    del out[jname]
    for d in inline:
        for k, v in d.items():
            out.setdefault(k, v)
    if spec.get("l"):
        return out.get(spec["f"][0][1], [])
    return out


def _decode_union(name: str, raw) -> Any:
    kind = UNIONS[name]
    schema = next((v for n, _, v in raw if n == (2 if kind == "bool" else 1)), None)
    if schema is not None:
        return decode_message(APIEXT + "JSONSchemaProps", schema)
    if kind == "bool":
        return bool(next((v for n, _, v in raw if n == 1), 0))
    if kind == "array":
        return [decode_message(APIEXT + "JSONSchemaProps", v) for n, _, v in raw if n == 2]
    return [v.decode() for n, _, v in raw if n == 2]


# ---- wire encoding -------------------------------------------------------------------------
def _parse_time(text: str) -> tuple[int, int]:
    from tripgenctl.timestamps import parse_time

    t = parse_time(text)
    if t is None:
        raise ValueError(f"bad time {text!r}")
    return int(t.timestamp()), t.microsecond * 1000


def _enc_scalar(num: int, typ: str, v: Any) -> bytes:
    if typ == "string":
        return f_string(num, str(v))
    if typ == "bytes":
        return f_bytes(num, base64.b64decode(v) if isinstance(v, str) else bytes(v))
    if typ == "bool":
        return f_varint(num, 1 if v else 0)
    if typ == "double":
        return f_double(num, v)
    if typ == "float":
        return key(num, 5) + struct.pack("<f", float(v))
    return f_varint(num, int(v))


def encode_message(name: str, obj: Any) -> bytes:
    if name in (TIME, MICROTIME):
        secs, nanos = _parse_time(obj) if obj else (0, 0)
        return (f_varint(1, secs) if secs else b"") + (f_varint(2, nanos) if nanos and name == MICROTIME else b"")
    if name == DURATION:
        return f_varint(1, _parse_go_duration(obj))
    if name == QUANTITY:
        return f_string(1, str(obj))
    if name == INTORSTRING:
        if isinstance(obj, str):
            return f_varint(1, 1) + f_varint(2, 0) + f_string(3, obj)
        return f_varint(1, 0) + f_varint(2, int(obj)) + f_string(3, "")
    if name in JSONRAW:
        return f_bytes(1, json.dumps(obj, separators=(",", ":")).encode())
    if name in UNIONS:
        kind = UNIONS[name]
        if isinstance(obj, dict):
            return f_bytes(2 if kind == "bool" else 1, encode_message(APIEXT + "JSONSchemaProps", obj))
        if kind == "bool":
            return f_varint(1, 1 if obj else 0)
        if kind == "array":
            return b"".join(f_bytes(2, encode_message(APIEXT + "JSONSchemaProps", s)) for s in obj)
        return b"".join(f_string(2, s) for s in obj)
    spec = table()[name]
    if spec.get("l"):
        obj = {spec["f"][0][1]: obj}
    out = b""
    for num, jname, typ, flags in spec["f"]:
        if "-" in flags:
            continue
        if "i" in flags:
            out += f_bytes(num, encode_message(typ[2:], obj))
            continue
        v = obj.get(jname) if isinstance(obj, dict) else None
        if v is None:
            continue
        if isinstance(typ, list):
            vt = typ[2]
            for k in sorted(v):
                val = v[k]
                entry = f_string(1, k) + (f_bytes(2, encode_message(vt[2:], val)) if vt.startswith("m:") else _enc_scalar(2, vt, val) if val is not None else b"")
                out += f_bytes(num, entry)
            continue
        items = v if "r" in flags else [v]
        for item in items:
            if typ.startswith("m:"):
                out += f_bytes(num, encode_message(typ[2:], item))
            else:
                out += _enc_scalar(num, typ, item)
    return out


def encode_object(obj: dict) -> bytes | None:
    """An API object (or list, or Status) in the protobuf envelope; None when its kind has no
    protobuf message (the caller answers JSON, as kube-apiserver does for custom resources)."""
    api_version, kind = obj.get("apiVersion", ""), obj.get("kind", "")
    name = message_for(api_version, kind)
    if name is None:
        return None
    raw = encode_message(name, obj)
    type_meta = f_string(1, api_version) + f_string(2, kind)
    return MAGIC + f_bytes(1, type_meta) + f_bytes(2, raw) + f_string(3, "") + f_string(4, "")


def decode_body(raw: bytes) -> dict:
    """A protobuf request body as the JSON object the API server would have received."""
    if not raw.startswith(MAGIC):
        raise ApiError(400, "protobuf body without the k8s envelope")
    try:
        env = {n: v for n, _, v in fields(raw[len(MAGIC):])}
        tm = {n: v.decode() for n, _, v in fields(env.get(1, b""))}
    except (ValueError, UnicodeDecodeError, AttributeError, TypeError) as exc:
        raise ApiError(400, f"the body of the request could not be decoded as protobuf: {exc}")
    api_version, kind = tm.get(1, ""), tm.get(2, "")
    name = message_for(api_version, kind)
    if name is None:
        raise ApiError(415, f"the body of the request was in an unknown format - {kind or 'an object'} of {api_version or 'no apiVersion'} has no protobuf form; send application/json", "UnsupportedMediaType")
    try:
        obj = decode_message(name, env.get(2, b""))
    except Exception as exc:  # noqa: BLE001 - malformed bytes are the client's 400, not a 500
        raise ApiError(400, f"the body of the request could not be decoded as protobuf {kind}: {exc}")
    if api_version:
        obj["apiVersion"] = api_version
    obj["kind"] = kind
    return obj


def prefers_protobuf(accept: str) -> bool:
    """Whether the Accept header's first choice is protobuf (client-go's typed clients send
    'application/vnd.kubernetes.protobuf,application/json')."""
    first = accept.split(",", 1)[0].strip().lower()
    return first.startswith(MEDIA_TYPE) and "stream=watch" not in first

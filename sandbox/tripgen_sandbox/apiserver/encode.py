"""Answers encoded as kube-apiserver encodes them: Go's encoding/json output (compact, `<`, `>`
and `&` escaped as \\u003c…, a trailing newline), top-level and metadata fields in the Go structs'
order (kind, apiVersion, metadata, …), and the exact media types the real server names in
Content-Type (`application/json` with no charset; the Table media type for tables). Clients that
compare the header or the error text byte for byte then see what they would see on AKS."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

JSON = "application/json"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"

# metav1.ObjectMeta field order
_META_ORDER = (
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
    "ownerReferences", "finalizers", "managedFields",
)
_STATUS_ORDER = ("kind", "apiVersion", "metadata", "status", "message", "reason", "details", "code")
_DETAILS_ORDER = ("name", "group", "kind", "uid", "causes", "retryAfterSeconds")


def _ordered(d: dict, order: tuple[str, ...], last: tuple[str, ...] = ()) -> dict:
    out = {k: d[k] for k in order if k in d}
    out.update((k, v) for k, v in d.items() if k not in out and k not in last)
    out.update((k, d[k]) for k in last if k in d and k not in out)
    return out


def order_object(obj: Any) -> Any:
    """kind, apiVersion, metadata first (TypeMeta is inlined first in every Go type), status
    last; metadata in ObjectMeta's order. Lists and tables order their items too."""
    if not isinstance(obj, dict) or "kind" not in obj:
        return obj
    if obj.get("kind") == "Status":
        return status_ordered(obj)
    out = _ordered(obj, ("kind", "apiVersion", "metadata"), ("status",))
    if isinstance(out.get("metadata"), dict):
        out["metadata"] = _ordered(out["metadata"], _META_ORDER)
    if isinstance(out.get("items"), list):
        out["items"] = [_item(i) for i in out["items"]]
    return out


def _item(i: Any) -> Any:
    if not isinstance(i, dict):
        return i
    out = _ordered(i, ("kind", "apiVersion", "metadata"), ("status",))
    if isinstance(out.get("metadata"), dict):
        out["metadata"] = _ordered(out["metadata"], _META_ORDER)
    return out


def status_ordered(body: dict) -> dict:
    """metav1.Status in its struct order, empty `omitempty` fields dropped as Go drops them."""
    out = _ordered(body, _STATUS_ORDER)
    details = out.get("details")
    if isinstance(details, dict):
        d = {k: v for k, v in _ordered(details, _DETAILS_ORDER).items() if v not in ("", None, [], 0)}
        if d.get("causes"):
            d["causes"] = [
                {k: c[k] for k in ("reason", "message", "field") if c.get(k)} for c in d["causes"]
            ]
        if d:
            out["details"] = d
        else:
            out.pop("details")
    for k in ("message", "reason", "status"):
        if out.get(k) in ("", None):
            out.pop(k, None)
    if not out.get("code"):
        out.pop("code", None)
    return out


def go_json(obj: Any) -> bytes:
    """encoding/json's Encoder.Encode: compact, HTML-escaped, UTF-8, newline-terminated."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return text.encode() + b"\n"


def respond(obj: Any, status: int = 200, content_type: str = JSON, headers=None) -> web.Response:
    """One API answer. aiohttp's json_response would add `; charset=utf-8`, which kube-apiserver
    never sends; the header is set verbatim here. `headers`: a dict or (name, value) pairs (a
    name may repeat, as `Warning` does)."""
    body = go_json(order_object(obj))
    h = CIMultiDict({"Content-Type": content_type})
    for k, v in (headers.items() if isinstance(headers, dict) else headers or ()):
        h.add(k, v)
    return web.Response(body=body, status=status, headers=h)


def status_response(body: dict, code: int, headers=None) -> web.Response:
    return respond(status_ordered(body), code, JSON, headers)

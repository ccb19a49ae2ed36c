"""Secrets as small typed objects whose values never leak: repr() and str() name the Secret and
its keys only, so a Secret in a log line, a traceback or a debugger shows no value. Values come
out only when asked for by name (`values()`, `value(key)`), decoded from base64."""

from __future__ import annotations

import base64
import copy
from typing import Any

from tripgenctl.kube import paths


def _decode(encoded: str | None) -> str:
    try:
        return base64.b64decode(encoded or "").decode()
    except (ValueError, UnicodeDecodeError):
        return ""  # not base64 / not text: as good as no value for every caller


def _encode(values: dict[str, str]) -> dict[str, str]:
    return {k: base64.b64encode(v.encode()).decode() for k, v in values.items()}


class Secret:
    """One Secret. `keys` are its data keys (sorted); `present(key)` and `non_empty(key)` answer
    without decoding; `values()` decodes them all."""

    __slots__ = ("name", "namespace", "type", "resource_version", "labels", "annotations", "_data", "_raw", "_kube")

    def __init__(self, obj: dict, kube=None):
        meta = obj.get("metadata") or {}
        self.name: str = meta.get("name", "")
        self.namespace: str = meta.get("namespace") or (kube.namespace if kube is not None else "")
        self.type: str = obj.get("type") or "Opaque"
        self.resource_version: str | None = meta.get("resourceVersion")
        self.labels: dict[str, str] = dict(meta.get("labels") or {})
        self.annotations: dict[str, str] = dict(meta.get("annotations") or {})
        self._data: dict[str, str] = dict(obj.get("data") or {})
        self._raw = obj
        self._kube = kube

    def __repr__(self) -> str:
        return f"Secret(name={self.name!r}, namespace={self.namespace!r}, keys={self.keys!r})"

    __str__ = __repr__

    def __reduce__(self):  # no pickling (a pickle would carry the values)
        raise TypeError("a Secret is not picklable: its values stay in memory")

    # ---- reading ----------------------------------------------------------------------------
    @classmethod
    def get(cls, kube, name: str, namespace: str | None = None, missing_ok: bool = False) -> "Secret | None":
        obj = kube.fetch("GET", paths.core("secrets", namespace or kube.namespace, name), what=f"secret {name}", missing_ok=missing_ok)
        return None if obj is None else cls(obj, kube)

    @property
    def keys(self) -> list[str]:
        return sorted(self._data)

    def present(self, key: str) -> bool:
        return key in self._data

    def non_empty(self, key: str) -> bool:
        return bool(self._data.get(key))

    def values(self) -> dict[str, str]:
        """Every key's value, decoded (an undecodable value reads as "")."""
        return {k: _decode(v) for k, v in self._data.items()}

    def value(self, key: str, default: str | None = None) -> str | None:
        """One key's value; `default` when the key is missing or empty."""
        return _decode(self._data[key]) if self._data.get(key) else default

    # ---- writing ----------------------------------------------------------------------------
    @staticmethod
    def manifest(name: str, namespace: str, values: dict[str, str], labels: dict | None = None, annotations: dict | None = None,
                 type: str = "Opaque") -> dict:
        """The body of a Secret holding `values` (base64-encoded here, as the API wants them)."""
        meta: dict[str, Any] = {"name": name, "namespace": namespace}
        if labels:
            meta["labels"] = dict(labels)
        if annotations:
            meta["annotations"] = dict(annotations)
        return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": type, "data": _encode(values)}

    @classmethod
    def create(cls, kube, body: dict, field_manager: str = "tripgenctl") -> "Secret":
        """POST a new Secret; Conflict when one of that name exists already."""
        meta = body["metadata"]
        ns = meta.get("namespace") or kube.namespace
        answer = kube.fetch("POST", paths.core("secrets", ns), body, query={"fieldManager": field_manager}, what=f"create secret {meta['name']}")
        return cls(answer, kube)

    def replace(self, body: dict, field_manager: str = "tripgenctl") -> "Secret":
        """PUT `body` in place of this Secret, guarded by the resourceVersion it was read at
        (a concurrent change is a Conflict, not lost)."""
        body = copy.deepcopy(body)
        body.setdefault("metadata", {})["resourceVersion"] = self.resource_version
        return self._put(body, field_manager)

    def update(self, changes: dict[str, str], field_manager: str = "tripgenctl") -> "Secret":
        """PUT this Secret with the keys of `changes` set to their values, everything else as it
        was read (resourceVersion-guarded)."""
        body = copy.deepcopy(self._raw)
        body.setdefault("data", {}).update(_encode(changes))
        body.get("metadata", {}).pop("managedFields", None)
        return self._put(body, field_manager)

    def _put(self, body: dict, field_manager: str) -> "Secret":
        kube = self._kube
        body.setdefault("apiVersion", "v1")
        body.setdefault("kind", "Secret")
        answer = kube.fetch("PUT", paths.core("secrets", self.namespace, self.name), body, query={"fieldManager": field_manager},
                            what=f"update secret/{self.name}")
        return Secret(answer, kube)

"""Pods as small typed objects (kr8s's model): what ops ask of a pod -- its phase, whether it is
Ready, how its containers stand -- and what they do with it -- exec, logs, port-forward -- without
an SDK model, a REST path or a status code outside the door. Built from the plain JSON of
Kube.fetch; the streams delegate to the Kube's existing exec and port-forward machinery."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from tripgenctl.errors import ConnectionFailed
from tripgenctl.kube import paths


@dataclass(frozen=True)
class Container:
    """One container's status. `state` is waiting | running | terminated | unknown; `reason`,
    `message` and `exit_code` come from that state."""

    name: str
    init: bool = False
    ready: bool = False
    restarts: int = 0
    state: str = "unknown"
    reason: str = ""
    message: str = ""
    exit_code: int | None = None

    @classmethod
    def from_json(cls, status: dict, init: bool = False) -> "Container":
        states = status.get("state") or {}
        kind = next((k for k in ("waiting", "running", "terminated") if k in states), "unknown")
        detail = states.get(kind) or {}
        return cls(name=status.get("name", ""), init=init, ready=bool(status.get("ready")), restarts=int(status.get("restartCount") or 0),
                   state=kind, reason=detail.get("reason") or "", message=detail.get("message") or "",
                   exit_code=detail.get("exitCode") if kind == "terminated" else None)


@dataclass
class Pod:
    name: str
    namespace: str
    phase: str
    ready: bool
    containers: list[Container] = field(default_factory=list)  # init containers first (init=True), then the others
    raw: dict = field(default_factory=dict, repr=False, compare=False)
    kube: Any = field(default=None, repr=False, compare=False)

    @classmethod
    def from_json(cls, obj: dict, kube=None) -> "Pod":
        meta, status = obj.get("metadata") or {}, obj.get("status") or {}
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
        containers = [Container.from_json(c, init=True) for c in status.get("initContainerStatuses") or []]
        containers += [Container.from_json(c) for c in status.get("containerStatuses") or []]
        namespace = meta.get("namespace") or (kube.namespace if kube is not None else "")
        return cls(meta.get("name", ""), namespace, status.get("phase") or "Pending", ready, containers, obj, kube)

    @classmethod
    def get(cls, kube, name: str, namespace: str | None = None, missing_ok: bool = False) -> "Pod | None":
        """The pod; NotFound (or None with missing_ok) when it does not exist."""
        obj = kube.fetch("GET", paths.core("pods", namespace or kube.namespace, name), what=f"pod {name}", missing_ok=missing_ok)
        return None if obj is None else cls.from_json(obj, kube)

    @classmethod
    def list(cls, kube, namespace: str | None = None, labels: dict[str, str] | str | None = None) -> list["Pod"]:
        """The namespace's pods (those matching `labels`), oldest first."""
        body = kube.fetch("GET", cls.collection(kube, namespace), query=paths.selector(labels) or None, what="pods")
        pods = [cls.from_json(o, kube) for o in (body or {}).get("items") or []]
        return sorted(pods, key=lambda p: p.created)

    @staticmethod
    def collection(kube, namespace: str | None = None) -> str:
        """The pods' list path (for watches: ops/waiting.py takes a list path)."""
        return paths.core("pods", namespace or kube.namespace)

    # ---- facts ------------------------------------------------------------------------------
    @property
    def created(self) -> str:
        return (self.raw.get("metadata") or {}).get("creationTimestamp") or ""

    @property
    def ip(self) -> str | None:
        return (self.raw.get("status") or {}).get("podIP")

    @property
    def spec_containers(self) -> list[str]:
        """The names of the spec's (non-init) containers, in order."""
        return [c.get("name", "") for c in (self.raw.get("spec") or {}).get("containers") or []]

    # ---- streams ----------------------------------------------------------------------------
    def exec(self, command: list[str], container: str | None = None, stdin: bool = False):
        """An open exec stream (binary channels; the caller reads and closes it)."""
        return self.kube.exec_stream(self.name, command, container, stdin, self.namespace)

    def logs(self, container: str | None = None, tail_lines: int | None = None) -> str:
        """The container's log as text (the last `tail_lines` lines)."""
        query = {k: v for k, v in (("container", container), ("tailLines", tail_lines)) if v}
        return get_text(self.kube, paths.core("pods", self.namespace, self.name, "log"), query, f"logs of {self.name}")

    def port_forward(self, port: int) -> contextlib.AbstractContextManager[tuple[str, int]]:
        """A local 127.0.0.1 port forwarded to this pod's `port` while the block runs."""
        return self.kube.port_forward(self.name, port, self.namespace)


def get_text(kube, path: str, query: dict | None, what: str) -> str:
    """A GET whose answer is text, not JSON (a log): the bytes as the server sent them, with the
    door's deadline and typed errors."""
    from urllib.parse import urlencode

    from tripgenctl.kube.client import call
    from tripgenctl.kube.errors import UNAUTHORIZED, raise_for_status

    url = f"{kube.server}{path}" + (f"?{urlencode(query)}" if query else "")

    def go():
        resp = kube.api_client.rest_client.request("GET", url, headers={"Accept": "*/*", **kube.auth_headers()})
        return resp.status, resp.read() if hasattr(resp, "read") else resp.data

    status, raw = call(go, what, kube.server, kube.request_timeout)
    if status == 401:
        raise ConnectionFailed(f"{what}: {UNAUTHORIZED}")
    raise_for_status(status, raw, what)
    return (raw or b"").decode("utf-8", errors="replace") if isinstance(raw, (bytes, bytearray)) else str(raw or "")


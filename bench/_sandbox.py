"""Shared by the benchmarks: a throw-away sandbox, started once per script."""

from __future__ import annotations

import contextlib
import tempfile
import time
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def sandbox(keep: str | None = None) -> Iterator[Path]:
    from tripgen_sandbox import control

    state = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="tg-bench-"))
    st = control.start(state, {"backoff_base": 0.5, "backoff_cap": 4.0}, timeout=90)
    try:
        yield Path(st.kubeconfig)
    finally:
        control.stop(state)
        if not keep:
            control.reset(state)


def busybox_deployment(name: str, replicas: int, labels: dict | None = None) -> dict:
    labels = {"app": name, **(labels or {})}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": labels},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "busybox:latest", "command": ["sh", "-c", "sleep 3600"],
                                                                                        "resources": {"requests": {"cpu": "5m", "memory": "8Mi"}}}]}}},
    }


def wait_ready_pods(kube, namespace: str, count: int, timeout: float = 180) -> None:
    from kubernetes import watch

    deadline = time.monotonic() + timeout
    ready: set[str] = set()
    w = watch.Watch()
    for ev in w.stream(kube.core.list_namespaced_pod, namespace, timeout_seconds=int(timeout)):
        pod = ev["object"]
        ok = any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))
        (ready.add if ok and ev["type"] != "DELETED" else ready.discard)(pod.metadata.name)
        if len(ready) >= count or time.monotonic() > deadline:
            w.stop()
    if len(ready) < count:
        raise SystemExit(f"only {len(ready)}/{count} pods became Ready")

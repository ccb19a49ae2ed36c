"""The pods/log subresource: reads the kubelet's CRI log files (tail, since, previous,
timestamps, follow) and streams them without loading a whole file into memory."""

from __future__ import annotations

import asyncio
from collections import deque
from datetime import datetime, timedelta, timezone

from aiohttp import web

from tripgen_sandbox.apierrors import ApiError
from tripgenctl.timestamps import parse_time


def _parse_line(line: str) -> tuple[str, str]:
    """'<ts> <stream> <tag> <text>' -> (ts, text)."""
    parts = line.split(" ", 3)
    if len(parts) < 4:
        return "", line
    return parts[0], parts[3]


async def serve_log(request: web.Request, cluster, namespace: str, name: str) -> web.StreamResponse:
    q = request.query
    pod = cluster.store.require("pods", namespace, name)
    containers = [c["name"] for c in pod["spec"].get("containers") or []]
    inits = [c["name"] for c in pod["spec"].get("initContainers") or []]
    container = q.get("container")
    if not container:
        if len(containers) != 1:
            raise ApiError(400, f"a container name must be specified for pod {name}, choose one of: [{' '.join(containers)}]" + (f" or one of the init containers: [{' '.join(inits)}]" if inits else ""))
        container = containers[0]
    elif container not in containers + inits:
        raise ApiError(400, f"container {container} is not valid for pod {name}")
    previous = q.get("previous", "false").lower() in ("true", "1")
    follow = q.get("follow", "false").lower() in ("true", "1")
    timestamps = q.get("timestamps", "false").lower() in ("true", "1")
    tail = int(q["tailLines"]) if q.get("tailLines") not in (None, "") else None
    limit = int(q["limitBytes"]) if q.get("limitBytes") else None
    since = None
    if q.get("sinceSeconds"):
        since = datetime.now(timezone.utc) - timedelta(seconds=int(q["sinceSeconds"]))
    elif q.get("sinceTime"):
        since = parse_time(q["sinceTime"])
    kubelet = cluster.kubelet
    path = kubelet.log_file(namespace, name, container, previous=previous) if kubelet else None
    if path is None or not path.exists():
        if previous:
            raise ApiError(400, f'previous terminated container "{container}" in pod "{name}" not found')
        status = next((s for s in (pod.get("status", {}).get("containerStatuses") or []) + (pod.get("status", {}).get("initContainerStatuses") or []) if s.get("name") == container), None)
        waiting = (status or {}).get("state", {}).get("waiting", {})
        if waiting.get("reason"):
            raise ApiError(400, f'container "{container}" in pod "{name}" is waiting to start: {waiting.get("message") or waiting["reason"]}'.replace(": " + waiting["reason"], ": " + waiting["reason"]) if waiting.get("reason") in ("ContainerCreating", "PodInitializing") else f'container "{container}" in pod "{name}" is waiting to start: trying and failing to pull image' if "Image" in waiting["reason"] or "ErrImage" in waiting["reason"] else f'container "{container}" in pod "{name}" is waiting to start: {waiting["reason"]}')
        raise ApiError(400, f'container "{container}" in pod "{name}" is waiting to start: ContainerCreating')
    resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
    await resp.prepare(request)
    sent = 0

    def fmt(line: str) -> bytes | None:
        ts, text = _parse_line(line.rstrip("\n"))
        if since is not None:
            t = parse_time(ts)
            if t is not None and t < since:
                return None
        out = (f"{ts} {text}" if timestamps else text) + "\n"
        return out.encode()

    with open(path, "r", encoding="utf-8", errors="replace") as fh:
        if tail is not None:
            lines = deque(fh, maxlen=tail) if tail > 0 else deque()
        else:
            lines = None
        source = lines if lines is not None else fh
        for line in source:
            data = fmt(line)
            if data is None:
                continue
            if limit is not None and sent + len(data) > limit:
                data = data[: max(0, limit - sent)]
            await resp.write(data)
            sent += len(data)
            if limit is not None and sent >= limit:
                return resp
        if follow and not previous:
            fh.seek(0, 2)
            pending = ""
            idle = 0
            while True:
                chunk = fh.readline()
                if chunk:
                    idle = 0
                    pending += chunk
                    if pending.endswith("\n"):
                        data = fmt(pending)
                        pending = ""
                        if data:
                            await resp.write(data)
                    continue
                if not _still_running(cluster, namespace, name, container, path):
                    idle += 1
                    if idle > 3:
                        break
                await asyncio.sleep(0.2)
    return resp


def _still_running(cluster, namespace: str, name: str, container: str, path) -> bool:
    pod = cluster.store.get("pods", namespace, name)
    if pod is None:
        return False
    current = cluster.kubelet.log_file(namespace, name, container, previous=False)
    if current is None or str(current) != str(path):
        return False
    for s in (pod.get("status", {}).get("containerStatuses") or []) + (pod.get("status", {}).get("initContainerStatuses") or []):
        if s.get("name") == container:
            return "running" in (s.get("state") or {})
    return False

"""Following a collection: list once, then follow the watch from that resourceVersion and call
the caller's check on every event, re-listing when the server ends the watch or the version
expires (410). The door's, because resourceVersions, ERROR events and a broken watch are
Kubernetes business; ops/waiting.py decides what "done" means (pods Ready, a condition, gone).
`collection` is a list path the door made (Pod.collection(kube), Job.collection(kube), ...)."""

from __future__ import annotations

import math
import time
from typing import Callable

from tripgenctl.errors import ProblemFound, ToolError
from tripgenctl.kube.client import answered
from tripgenctl.kube.errors import KubeError, NotFound, Unavailable


def watch_list(kube, collection: str, check: Callable[[dict[str, dict]], bool], timeout: float) -> bool:
    """Call check(objects by name) after the initial list and after every watch event; True as
    soon as it returns True, False when `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    transient = 0
    while True:
        body = _list(kube, collection)
        items = {o["metadata"]["name"]: o for o in body.get("items") or []}
        rv = (body.get("metadata") or {}).get("resourceVersion")
        if check(items):
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        try:
            done = _follow(kube, collection, rv, items, check, deadline, remaining)
            if done is not None:
                return done
            transient = 0
        except ToolError as exc:
            if exc.exit_code == 2 and transient >= 3:
                raise
            transient += 1
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(0.2 * 2**transient, 2.0))  # back-off before re-listing after a broken watch
        if time.monotonic() >= deadline:
            return check(items)


def _follow(kube, collection: str, rv: str | None, items: dict[str, dict], check: Callable[[dict[str, dict]], bool],
            deadline: float, remaining: float) -> bool | None:
    """Apply one watch's events to `items`: True as soon as check() holds, False when the
    deadline passes first, None when the watch ended or sent an ERROR (list again)."""
    for type_, obj in kube.watch_json(collection, resource_version=rv, timeout_seconds=max(1, math.ceil(remaining))):
        if type_ == "ERROR":
            return None  # 410 Gone and friends: list again
        name = (obj.get("metadata") or {}).get("name")
        if not name:
            continue
        if type_ == "DELETED":
            items.pop(name, None)
        else:
            items[name] = obj
        if check(items):
            return True
        if time.monotonic() >= deadline:
            return False
    return None


def _list(kube, collection: str) -> dict:
    """The list a watch starts from; a missing collection means a missing namespace (exit 2)."""
    try:
        body = kube.fetch("GET", collection, what=collection)
    except NotFound:
        raise ToolError(f"{collection}: not found (does the namespace exist?)", 2) from None
    except (KubeError, Unavailable) as exc:
        if not answered(exc):
            raise
        raise ProblemFound(f"GET {collection}: HTTP {exc.status}") from None
    if not isinstance(body, dict):
        raise ProblemFound(f"GET {collection}: HTTP 200 (not a list)")
    return body

"""The up/down lock: a coordination.k8s.io Lease `tripgenctl-lock` in the namespace, so a laptop
`up` and the nightly `down` never scale the same workloads at once. The holder renews it while
it works; a run killed with SIGKILL stops renewing and its lock expires after the lease
duration, so nobody has to clean up by hand. Every write is resourceVersion-guarded: two runs
racing for an expired or free lease cannot both win."""

from __future__ import annotations

import contextlib
import getpass
import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterator

from tripgenctl.errors import ToolError

LEASE_NAME = "tripgenctl-lock"
DEFAULT_SECONDS = 30  # a killed run's lock expires this long after its last renewal


class Locked(ToolError):
    """Someone else holds the lock (exit 1: the environment is busy, not a usage error)."""

    exit_code = 1


@dataclass
class LockInfo:
    holder: str
    action: str | None
    acquired: str | None
    renewed: str | None
    expires_in: float


def user_host() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry in a container
        user = os.environ.get("USER") or f"uid{os.getuid()}"
    return f"{user}@{socket.gethostname()}"


def identity() -> str:
    """user@host pid N (what the other side's "locked by ..." message shows)."""
    return f"{user_host()} pid {os.getpid()}"


def lease_seconds() -> int:
    value = os.environ.get("TRIPGENCTL_LOCK_SECONDS")
    try:
        return max(1, int(value)) if value else DEFAULT_SECONDS
    except ValueError:
        return DEFAULT_SECONDS


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _micro(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _path(kube, name: str | None = None) -> str:
    base = f"/apis/coordination.k8s.io/v1/namespaces/{kube.namespace}/leases"
    return f"{base}/{name}" if name else base


def describe(lease: dict | None, now: datetime | None = None) -> LockInfo | None:
    """The live holder of a lease, or None when it is free or expired."""
    from tripgenctl.ops.workloads import parse_time

    if not lease:
        return None
    spec = lease.get("spec") or {}
    holder = spec.get("holderIdentity")
    if not holder:
        return None
    now = now or _now()
    renewed = parse_time(spec.get("renewTime") or spec.get("acquireTime"))
    duration = int(spec.get("leaseDurationSeconds") or DEFAULT_SECONDS)
    if renewed is None:
        return None
    left = (renewed + timedelta(seconds=duration) - now).total_seconds()
    if left <= 0:
        return None
    ann = (lease.get("metadata") or {}).get("annotations") or {}
    return LockInfo(holder=holder, action=ann.get("tripgenctl.io/action"), acquired=spec.get("acquireTime"), renewed=spec.get("renewTime"), expires_in=left)


class Lock:
    """A held lease; renewed by a daemon thread until release()."""

    def __init__(self, kube, holder: str, seconds: int, lease: dict):
        self.kube = kube
        self.holder = holder
        self.seconds = seconds
        self._lease = lease
        self._stop = threading.Event()
        self._mutex = threading.Lock()
        self._thread = threading.Thread(target=self._renew_loop, name="tripgenctl-lock-renew", daemon=True)
        self.lost: str | None = None

    def start(self) -> "Lock":
        self._thread.start()
        return self

    def _renew_loop(self) -> None:
        interval = max(0.5, self.seconds / 3)
        while not self._stop.wait(interval):
            try:
                self.renew()
            except ToolError as exc:
                self.lost = exc.message  # transient: the next tick tries again before expiry

    def renew(self) -> None:
        with self._mutex:
            for _ in range(3):
                if self._stop.is_set():
                    return
                lease = dict(self._lease)
                lease["spec"] = dict(lease.get("spec") or {}, renewTime=_micro(_now()))
                status, body = self.kube.request_json("PUT", _path(self.kube, LEASE_NAME), lease, what=f"lease {LEASE_NAME}")
                if status == 200:
                    self._lease = body
                    self.lost = None
                    return
                if status != 409:
                    break
                s, cur = self.kube.request_json("GET", _path(self.kube, LEASE_NAME))
                if s != 200 or (cur.get("spec") or {}).get("holderIdentity") != self.holder:
                    raise ToolError("the lock was taken over by someone else", 1)
                self._lease = cur  # a stale resourceVersion of our own lease: retry with the fresh one
            raise ToolError(f"cannot renew lock: HTTP {status}", 1)

    def release(self) -> None:
        """Clear the holder (rv-guarded: never clears a lock someone else took after expiry)."""
        self._stop.set()
        with self._mutex:
            for _ in range(5):
                lease = dict(self._lease)
                if (lease.get("spec") or {}).get("holderIdentity") != self.holder:
                    return
                spec = dict(lease.get("spec") or {})
                spec.pop("holderIdentity", None)
                spec["renewTime"] = _micro(_now())
                lease["spec"] = spec
                try:
                    status, body = self.kube.request_json("PUT", _path(self.kube, LEASE_NAME), lease)
                except ToolError:
                    return  # it expires by itself
                if status == 200 or status == 404:
                    return
                if status != 409:
                    return
                s, cur = self.kube.request_json("GET", _path(self.kube, LEASE_NAME))
                if s != 200:
                    return
                self._lease = cur


def try_acquire(kube, holder: str, seconds: int, action: str = "") -> tuple[Lock | None, LockInfo | None]:
    """One attempt: (lock, None) when taken, (None, holder info) when someone else has it."""
    for _ in range(10):
        status, lease = kube.request_json("GET", _path(kube, LEASE_NAME), what=f"lease {LEASE_NAME}")
        now = _now()
        spec = {
            "holderIdentity": holder,
            "leaseDurationSeconds": seconds,
            "acquireTime": _micro(now),
            "renewTime": _micro(now),
        }
        meta_ann = {"tripgenctl.io/action": action} if action else {}
        if status == 404:
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": LEASE_NAME, "namespace": kube.namespace, "annotations": meta_ann}, "spec": spec}
            s, created = kube.request_json("POST", _path(kube), body)
            if s in (200, 201):
                return Lock(kube, holder, seconds, created).start(), None
            if s == 409:
                continue  # someone created it first: look again
            _fail(s, created, "create")
        elif status == 200:
            info = describe(lease, now)
            if info is not None and info.holder != holder:
                return None, info
            new = dict(lease)
            new["metadata"] = dict(lease.get("metadata") or {})
            new["metadata"]["annotations"] = dict(new["metadata"].get("annotations") or {}, **meta_ann)
            spec["leaseTransitions"] = int((lease.get("spec") or {}).get("leaseTransitions") or 0) + 1
            new["spec"] = spec
            s, updated = kube.request_json("PUT", _path(kube, LEASE_NAME), new)
            if s == 200:
                return Lock(kube, holder, seconds, updated).start(), None
            if s == 409:
                continue  # lost a race: whoever won is the holder now
            _fail(s, updated, "update")
        else:
            _fail(status, lease, "read")
    raise ToolError(f"lease {LEASE_NAME}: too many conflicting writers", 1)


def _fail(status: int, body, what: str) -> None:
    message = body.get("message") if isinstance(body, dict) else str(body)[:200]
    if status == 404:
        raise ToolError(f'namespace "{message}" not found', 2)
    raise ToolError(f"cannot {what} lease {LEASE_NAME}: {status} {message}", 1)


def locked_message(info: LockInfo) -> str:
    what = f" running {info.action}" if info.action else ""
    since = f" since {info.acquired}" if info.acquired else ""
    return f"locked by {info.holder}{what}{since} (lease {LEASE_NAME}, expires in {int(info.expires_in) + 1}s unless renewed); retry later or pass --wait-lock"


@contextlib.contextmanager
def held(kube, action: str, wait: bool = False, timeout: float | None = None, on_wait: Callable[[LockInfo], None] | None = None) -> Iterator[Lock]:
    """Hold the lock for the duration of the block; released on any exit, Ctrl-C included.
    Without `wait`, a held lock is an immediate Locked error naming the holder."""
    holder = identity()
    seconds = lease_seconds()
    deadline = None if timeout is None else time.monotonic() + timeout
    lock: Lock | None = None
    announced = None
    try:
        while lock is None:
            lock, info = try_acquire(kube, holder, seconds, action)
            if lock is not None:
                break
            assert info is not None
            if not wait:
                raise Locked(locked_message(info))
            if deadline is not None and time.monotonic() >= deadline:
                raise Locked(locked_message(info) + " (gave up waiting)")
            if on_wait and announced != info.holder:
                on_wait(info)
                announced = info.holder
            _wait_for_change(kube, min(info.expires_in + 0.2, (deadline - time.monotonic()) if deadline else info.expires_in + 0.2))
    except BaseException as exc:
        if lock is not None:
            lock.release()
        elif not isinstance(exc, Locked):
            # Ctrl-C / SIGTERM can land after the server took our write but before we knew:
            # the lease may be ours already, so give it back if it is.
            _release_if_ours(kube, holder)
        raise
    try:
        yield lock
    finally:
        lock.release()


def _release_if_ours(kube, holder: str) -> None:
    with contextlib.suppress(Exception):
        status, lease = kube.request_json("GET", _path(kube, LEASE_NAME))
        if status == 200 and (lease.get("spec") or {}).get("holderIdentity") == holder:
            Lock(kube, holder, 0, lease).release()


def _wait_for_change(kube, seconds: float) -> None:
    """Block until the lease changes (released / renewed) or `seconds` pass, using a watch."""
    seconds = max(0.2, seconds)
    end = time.monotonic() + seconds
    status, body = kube.request_json("GET", _path(kube), what="leases")
    rv = (body.get("metadata") or {}).get("resourceVersion") if isinstance(body, dict) else None
    try:
        for type_, obj in kube.watch_json(_path(kube), resource_version=rv, timeout_seconds=max(1, int(seconds + 0.999)), stop=lambda: time.monotonic() >= end):
            if (obj.get("metadata") or {}).get("name") == LEASE_NAME and type_ in ("MODIFIED", "DELETED"):
                if not (obj.get("spec") or {}).get("holderIdentity") or type_ == "DELETED":
                    return
    except ToolError:
        time.sleep(min(1.0, max(0.0, end - time.monotonic())))

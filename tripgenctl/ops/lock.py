"""The up/down lock: a coordination.k8s.io Lease `tripgenctl-lock` in the namespace, so a laptop
`up` and the nightly `down` never scale the same workloads at once. The holder renews it while
it works; a run killed with SIGKILL stops renewing and its lock expires after the lease
duration, so nobody has to clean up by hand. Every write is resourceVersion-guarded: two runs
racing for an expired or free lease cannot both win.

A run frozen (SIGSTOP, a suspended laptop) or cut off past its lease may find, when it resumes,
that someone else took the lock and finished: it must not undo their work. So the renew thread
notices a lost lease within one renew interval and interrupts the run, every scaling write is
preceded by Lock.confirm(), and the run exits 1 with "lost the lock to <holder>"."""

from __future__ import annotations

import contextlib
import getpass
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterator

from tripgenctl.errors import ProblemFound, ToolError

LEASE_NAME = "tripgenctl-lock"
DEFAULT_SECONDS = 30  # a killed run's lock expires this long after its last renewal


class Locked(ToolError):
    """Someone else holds the lock (exit 1: the environment is busy, not a usage error)."""

    exit_code = 1


class LostLock(ToolError):
    """This run held the lock and no longer does (its lease expired while it was frozen or cut
    off, and someone else took it): it must make no further write. Exit 1."""

    exit_code = 1


class _LostInterrupt(BaseException):
    """Raised in the main thread (by a signal the renew thread sends) to end whatever the run
    is waiting for. A BaseException, like KeyboardInterrupt, so no `except Exception` and no
    retry loop swallows it; held() turns it into the LostLock the renew thread recorded."""


LAST_HOLDER_ANNOTATION = "tripgenctl.io/last-holder"  # kept after release: who took the lock last
INTERRUPT_SIGNAL = signal.SIGUSR1


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
        user = f"uid{os.getuid()}"  # getpass already tried $LOGNAME, $USER, $LNAME, $USERNAME
    return f"{user}@{socket.gethostname()}"


def identity() -> str:
    """user@host pid N (what the other side's "locked by ..." message shows)."""
    return f"{user_host()} pid {os.getpid()}"


def lease_seconds(kube) -> int:
    """The configured lease (config lock_seconds, $TRIPGENCTL_LOCK_SECONDS applied when the CLI
    built the config), at least one second."""
    return max(1, int(getattr(kube.config, "lock_seconds", DEFAULT_SECONDS)))


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
    """A held lease, renewed by a daemon thread every third of its duration until release().

    A renewal that finds the lease in someone else's hands, or that has failed for a whole lease
    duration, marks the lock lost (`lost`) and interrupts the main thread (see held()); every
    write of the run is preceded by confirm(), which renews the lease (rv-guarded, so a success
    proves nobody took it since) and raises LostLock instead of letting the write through."""

    def __init__(self, kube, holder: str, seconds: int, lease: dict):
        self.kube = kube
        self.holder = holder
        self.seconds = seconds
        self.interval = max(0.5, seconds / 3)
        self._lease = lease
        self._confirmed = time.monotonic()  # when the lease was last known ours (request start)
        self._stop = threading.Event()
        self._mutex = threading.RLock()
        self._thread = threading.Thread(target=self._renew_loop, name="tripgenctl-lock-renew", daemon=True)
        self.lost: LostLock | None = None
        self.failure: str | None = None  # the last renewal failure, while the lease is still valid
        self.on_lost: Callable[[], None] | None = None  # held(): interrupt the main thread

    def start(self) -> "Lock":
        self._thread.start()
        return self

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.renew()
            except LostLock as exc:
                self._lose(exc)
                return
            except ToolError as exc:
                self.failure = exc.message
                if self._expired():
                    self._lose(self._expiry(exc.message))
                    return

    def _expired(self, margin: float = 0.0) -> bool:
        """The last renewal is a lease duration old (less `margin`: time a write still needs)."""
        return time.monotonic() - self._confirmed >= self.seconds - margin

    def _expiry(self, why: str) -> LostLock:
        return LostLock(f"lost the lock: lease {LEASE_NAME} could not be renewed within its {self.seconds}s ({why}); no further change made")

    def _lose(self, exc: LostLock, interrupt: bool = True) -> None:
        """Record the loss once; from the renew thread also interrupt the run (confirm(), in the
        run's own thread, raises instead)."""
        with self._mutex:
            if self.lost is not None or self._stop.is_set():
                return
            self.lost = exc
        if interrupt and self.on_lost is not None:
            self.on_lost()

    def confirm(self) -> None:
        """Before a write: raise LostLock unless the lease is still ours. Renews it (one PUT);
        when the API cannot answer, the write may go ahead only while the last renewal is less
        than a lease duration old (nobody else can hold it before then)."""
        if self.lost is not None:
            raise self.lost
        try:
            self.renew()
        except LostLock as exc:
            self._lose(exc, interrupt=False)
            raise self.lost or exc from None
        except ToolError as exc:
            # a write needs time too: it may not start in the last renew interval of the lease
            if self._expired(margin=self.interval):
                self._lose(self._expiry(exc.message), interrupt=False)
                raise self.lost or self._expiry(exc.message) from None

    def renew(self) -> None:
        with self._mutex:
            if self.lost is not None:
                raise self.lost
            for _ in range(3):
                if self._stop.is_set():
                    return
                started = time.monotonic()
                lease = dict(self._lease)
                lease["spec"] = dict(lease.get("spec") or {}, renewTime=_micro(_now()))
                status, body = _answer(lambda: self.kube.request_json("PUT", _path(self.kube, LEASE_NAME), lease, what=f"lease {LEASE_NAME}"))
                if status == 200:
                    self._lease = body
                    self._confirmed = started
                    self.failure = None
                    return
                if status == 404:
                    raise LostLock(f"lost the lock: lease {LEASE_NAME} was deleted; no further change made")
                if status != 409:
                    break
                s, cur = self.kube.request_json("GET", _path(self.kube, LEASE_NAME), what=f"lease {LEASE_NAME}")
                if s == 404:
                    raise LostLock(f"lost the lock: lease {LEASE_NAME} was deleted; no further change made")
                if s != 200:
                    raise ProblemFound(f"cannot read lease {LEASE_NAME}: HTTP {s}")
                if (cur.get("spec") or {}).get("holderIdentity") != self.holder:
                    raise LostLock(f"lost the lock to {taken_by(cur, self.holder)}: lease {LEASE_NAME} expired while this run "
                                   f"was not renewing it (frozen or cut off); no further change made")
                self._lease = cur  # a stale resourceVersion of our own lease: retry with the fresh one
            raise ProblemFound(f"cannot renew lock: HTTP {status}")

    def release(self) -> None:
        """Clear the holder (rv-guarded: never clears a lock someone else took after expiry)."""
        self._stop.set()
        if self.lost is not None:
            return  # not ours any more: nothing to give back
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


def _answer(request: Callable[[], tuple[int, object]]) -> tuple[int, object]:
    """(status, body) of a request, also when the door raises an HTTP answer as a typed error
    carrying `.status` (a 409 must still read as "someone else wrote the lease")."""
    try:
        return request()
    except ToolError as exc:
        status = getattr(exc, "status", None)
        if isinstance(status, int) and status in (404, 409):
            return status, {"message": exc.message}
        raise


def taken_by(lease: dict, me: str) -> str:
    """Who holds the lease now, or who took it last and has released it since."""
    holder = (lease.get("spec") or {}).get("holderIdentity")
    if holder:
        return holder
    last = ((lease.get("metadata") or {}).get("annotations") or {}).get(LAST_HOLDER_ANNOTATION)
    if last and last != me:
        return f"{last}, who has released it since"
    return "someone else, who has released it since"


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
        meta_ann[LAST_HOLDER_ANNOTATION] = holder
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
    raise ProblemFound(f"lease {LEASE_NAME}: too many conflicting writers")


def _fail(status: int, body, what: str) -> None:
    message = body.get("message") if isinstance(body, dict) else str(body)[:200]
    if status == 404:
        raise ToolError(f'namespace "{message}" not found', 2)
    raise ProblemFound(f"cannot {what} lease {LEASE_NAME}: {status} {message}")


def locked_message(info: LockInfo) -> str:
    what = f" running {info.action}" if info.action else ""
    since = f" since {info.acquired}" if info.acquired else ""
    return f"locked by {info.holder}{what}{since} (lease {LEASE_NAME}, expires in {int(info.expires_in) + 1}s unless renewed); retry later or pass --wait-lock"


@contextlib.contextmanager
def held(kube, action: str, wait: bool = False, timeout: float | None = None, on_wait: Callable[[LockInfo], None] | None = None) -> Iterator[Lock]:
    """Hold the lock for the duration of the block; released on any exit, Ctrl-C included.
    Without `wait`, a held lock is an immediate Locked error naming the holder. When the lock is
    lost while the block runs, the block is interrupted (main thread only: a signal ends any
    wait) and this raises LostLock; writes in the block call lock.confirm() first."""
    holder = identity()
    seconds = lease_seconds(kube)
    deadline = None if timeout is None else time.monotonic() + timeout
    lock: Lock | None = None
    announced = None
    with _interruptible() as interrupt:
        try:
            while lock is None:
                lock, info = try_acquire(kube, holder, seconds, action)
                if lock is not None:
                    lock.on_lost = interrupt.fire if interrupt else None
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
        except _LostInterrupt:
            raise (lock.lost or LostLock("lost the lock; no further change made")) from None
        except ToolError:
            if lock.lost is not None:  # a write refused or a wait broken by the loss: say why
                raise lock.lost from None
            raise
        finally:
            if interrupt:
                interrupt.disarm()  # a late signal must not break the release
            lock.release()


class _Interrupt:
    """fire() (from the renew thread) raises _LostInterrupt in the main thread: a signal wakes
    any wait there, a socket read included. disarm() makes a signal still in flight harmless."""

    def __init__(self):
        self._armed = threading.Event()
        self._main = threading.main_thread().ident

    def handler(self, signum, frame) -> None:
        if self._armed.is_set():
            self._armed.clear()
            raise _LostInterrupt()

    def fire(self) -> None:
        self._armed.set()
        signal.pthread_kill(self._main, INTERRUPT_SIGNAL)

    def disarm(self) -> None:
        self._armed.clear()


@contextlib.contextmanager
def _interruptible() -> Iterator[_Interrupt | None]:
    """None when not on the main thread (no signal handler can be installed there): the loss
    is then noticed at the next write only."""
    if threading.current_thread() is not threading.main_thread():
        yield None
        return
    interrupt = _Interrupt()
    try:
        previous = signal.signal(INTERRUPT_SIGNAL, interrupt.handler)
    except ValueError:
        yield None
        return
    try:
        yield interrupt
    finally:
        interrupt.disarm()
        signal.signal(INTERRUPT_SIGNAL, previous)


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

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
from tripgenctl.kube.errors import Conflict, NotFound
from tripgenctl.kube.leases import Lease

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

    def __init__(self, kube, holder: str, seconds: int, lease: Lease):
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
        """One rv-guarded PUT of renewTime. A Conflict means someone wrote the lease since we
        read it: re-read it, and unless we still hold it (a stale resourceVersion of our own
        write), the lock is lost; a lease deleted under us is lost too."""
        with self._mutex:
            if self.lost is not None:
                raise self.lost
            for _ in range(3):
                if self._stop.is_set():
                    return
                started = time.monotonic()
                try:
                    self._lease = self._lease.renew(self.kube, _micro(_now()))
                except NotFound:
                    raise LostLock(f"lost the lock: lease {LEASE_NAME} was deleted; no further change made") from None
                except Conflict:
                    cur = Lease.get(self.kube, LEASE_NAME)
                    if cur is None:
                        raise LostLock(f"lost the lock: lease {LEASE_NAME} was deleted; no further change made") from None
                    if cur.holder != self.holder:
                        raise LostLock(f"lost the lock to {taken_by(cur.raw, self.holder)}: lease {LEASE_NAME} expired while this run "
                                       f"was not renewing it (frozen or cut off); no further change made") from None
                    self._lease = cur  # a stale resourceVersion of our own lease: retry with the fresh one
                    continue
                self._confirmed = started
                self.failure = None
                return
            raise ProblemFound(f"cannot renew lock: lease {LEASE_NAME} kept changing under us (3 conflicts in a row)")

    def release(self) -> None:
        """Clear the holder (rv-guarded: never clears a lock someone else took after expiry)."""
        self._stop.set()
        if self.lost is not None:
            return  # not ours any more: nothing to give back
        with self._mutex:
            for _ in range(5):
                if self._lease.holder != self.holder:
                    return
                try:
                    self._lease.release(self.kube, _micro(_now()))
                    return
                except Conflict:
                    try:
                        cur = Lease.get(self.kube, LEASE_NAME)
                    except ToolError:
                        return  # it expires by itself
                    if cur is None:
                        return
                    self._lease = cur
                except ToolError:
                    return  # gone, or the API cannot answer: it expires by itself


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
        lease = Lease.get(kube, LEASE_NAME)
        now = _now()
        annotations = {"tripgenctl.io/action": action} if action else {}
        annotations[LAST_HOLDER_ANNOTATION] = holder
        try:
            if lease is None:
                created = Lease.create(kube, LEASE_NAME, holder, seconds, _micro(now), annotations)
                return Lock(kube, holder, seconds, created).start(), None
            info = describe(lease.raw, now)
            if info is not None and info.holder != holder:
                return None, info
            taken = lease.take(kube, holder, seconds, _micro(now), annotations)
            return Lock(kube, holder, seconds, taken).start(), None
        except Conflict:
            continue  # someone created or took it first: look again (whoever won is the holder now)
        except NotFound:
            if lease is None:  # the create of a namespace that does not exist
                raise ToolError(f'namespace "{kube.namespace}" not found', 2) from None
            continue  # deleted between our read and our write: look again
    raise ProblemFound(f"lease {LEASE_NAME}: too many conflicting writers")


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
        lease = Lease.get(kube, LEASE_NAME)
        if lease is not None and lease.holder == holder:
            Lock(kube, holder, 0, lease).release()


def _wait_for_change(kube, seconds: float) -> None:
    """Block until the lease changes (released / renewed) or `seconds` pass, using a watch."""
    seconds = max(0.2, seconds)
    end = time.monotonic() + seconds
    try:
        rv = Lease.list_version(kube)
        for type_, lease in Lease.watch(kube, resource_version=rv, timeout_seconds=max(1, int(seconds + 0.999)), stop=lambda: time.monotonic() >= end):
            if lease.name == LEASE_NAME and type_ in ("MODIFIED", "DELETED"):
                if not lease.holder or type_ == "DELETED":
                    return
    except ToolError:
        time.sleep(min(1.0, max(0.0, end - time.monotonic())))

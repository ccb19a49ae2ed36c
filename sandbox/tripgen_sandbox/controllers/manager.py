"""The controller manager: one work queue per controller, fed by the store's change callback
and a periodic resync, drained by one task per controller. Keys are coalesced in a set, so a
burst of changes to one object costs one reconcile; a reconcile that writes nothing produces no
change and the loop goes quiet (no busy loop). A reconcile may ask to run again after a delay
(back-offs, schedules, deadlines)."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Callable, Iterable

from tripgen_sandbox.controllers.common import utcnow

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (namespace, name); ("", name) for cluster-scoped objects

RESYNC_SECONDS = 3.0


class Controller:
    """One reconcile loop. Subclasses set `name`, `primary` (the store key they own) and
    `watches` (store keys whose changes concern them) and implement `reconcile`."""

    name = "controller"
    primary = ""
    watches: tuple[str, ...] = ()

    def __init__(self, manager: "Manager"):
        self.manager = manager
        self.cluster = manager.cluster
        self.store = manager.cluster.store
        self.config = manager.cluster.config

    def now(self) -> datetime:
        return self.manager.now()

    def keys_for(self, type_: str, key: str, obj: dict) -> Iterable[Key]:
        """Which of my objects a change concerns. Default: the changed object when it is mine."""
        if key == self.primary:
            meta = obj["metadata"]
            yield (meta.get("namespace", ""), meta["name"])

    def resync_keys(self) -> Iterable[Key]:
        if not self.primary:
            return []
        return [(o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in self.store.iter(self.primary)]

    def get(self, key: Key) -> dict | None:
        return self.store.get(self.primary, key[0] or None, key[1])

    def reconcile(self, key: Key) -> float | None:
        """Make the world match the object; return seconds after which to look again, or None."""
        raise NotImplementedError


class Manager:
    def __init__(self, cluster, clock: Callable[[], datetime] | None = None, resync: float = RESYNC_SECONDS):
        self.cluster = cluster
        self.store = cluster.store
        self.clock = clock or utcnow
        self.resync = resync
        self.controllers: list[Controller] = []
        self._queues: dict[str, set[Key]] = {}
        self._wakeups: dict[str, asyncio.Event] = {}
        self._timers: dict[tuple[str, Key], tuple[float, asyncio.TimerHandle]] = {}
        self._tasks: list[asyncio.Task] = []
        self._watching: dict[str, list[Controller]] = {}
        self._listening = False

    def now(self) -> datetime:
        return self.clock()

    def add(self, controller_cls) -> Controller:
        c = controller_cls(self)
        self.controllers.append(c)
        self._queues[c.name] = set()
        self._wakeups[c.name] = asyncio.Event()
        for key in set(c.watches) | ({c.primary} if c.primary else set()):
            self._watching.setdefault(key, []).append(c)
        return c

    def controller(self, name: str) -> Controller:
        return next(c for c in self.controllers if c.name == name)

    # ---- feeding the queues --------------------------------------------------------------
    def listen(self) -> None:
        if not self._listening:
            self._listening = True
            self.store.on_change(self._on_change)

    def _on_change(self, type_: str, key: str, obj: dict) -> None:
        for c in self._watching.get(key, ()):
            try:
                for k in c.keys_for(type_, key, obj):
                    self.enqueue(c.name, k)
            except Exception:  # noqa: BLE001 - a bad object must not break the store's writer
                log.exception("%s: keys_for failed", c.name)

    def enqueue(self, name: str, key: Key) -> None:
        self._queues[name].add(key)
        self._wakeups[name].set()

    def enqueue_after(self, name: str, key: Key, delay: float) -> None:
        """Look at key again in `delay` seconds; an earlier pending request wins."""
        loop = asyncio.get_running_loop()
        due = loop.time() + max(0.0, delay)
        cur = self._timers.get((name, key))
        if cur is not None and cur[0] <= due and not cur[1].cancelled():
            return
        if cur is not None:
            cur[1].cancel()

        def fire():
            self._timers.pop((name, key), None)
            self.enqueue(name, key)

        self._timers[(name, key)] = (due, loop.call_later(max(0.0, delay), fire))

    def enqueue_all(self, name: str) -> None:
        c = self.controller(name)
        for k in c.resync_keys():
            self._queues[name].add(k)
        self._wakeups[name].set()

    # ---- draining ------------------------------------------------------------------------
    def _process(self, c: Controller) -> int:
        batch = self._queues[c.name]
        self._queues[c.name] = set()
        for key in sorted(batch):
            try:
                again = c.reconcile(key)
            except Exception:  # noqa: BLE001 - one bad object must not stop the controller
                log.exception("%s: reconcile %s/%s failed", c.name, *key)
                again = 1.0
            if again is not None:
                self.enqueue_after(c.name, key, again)
        return len(batch)

    async def _run(self, c: Controller) -> None:
        loop = asyncio.get_running_loop()
        wake = self._wakeups[c.name]
        next_resync = loop.time()
        while True:
            timeout = max(0.0, next_resync - loop.time())
            try:
                await asyncio.wait_for(wake.wait(), timeout=timeout)
            except asyncio.TimeoutError:
                pass
            wake.clear()
            if loop.time() >= next_resync:
                next_resync = loop.time() + self.resync
                self._queues[c.name].update(c.resync_keys())
            self._process(c)
            await asyncio.sleep(0.01)  # let the API server and kubelet run between batches

    def start(self) -> list[asyncio.Task]:
        self.listen()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._run(c), name=f"controller-{c.name}") for c in self.controllers]
        return self._tasks

    async def settle(self, rounds: int = 50) -> None:
        """Drain every queue until nothing is left (tests: deterministic progress without the
        background tasks' timing)."""
        self.listen()
        for _ in range(rounds):
            done = 0
            for c in self.controllers:
                done += self._process(c)
            if not done:
                return
            await asyncio.sleep(0)

    def resync_all(self) -> None:
        for c in self.controllers:
            self._queues[c.name].update(c.resync_keys())

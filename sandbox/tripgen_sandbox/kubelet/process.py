"""One container instance as a local process: its own process group, stdout/stderr copied
into a CRI-format log file (one file per instance, so `logs --previous` has the last one),
and a stop that escalates from the image's stop signal to SIGKILL of the whole tree."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from datetime import datetime, timezone
from pathlib import Path

import psutil

CHUNK = 16384  # a longer line is split into partial (P) records, like containerd


def cri_timestamp() -> str:
    ns = time.time_ns()
    dt = datetime.fromtimestamp(ns // 1_000_000_000, timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ns % 1_000_000_000:09d}Z"


def tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root] + root.children(recursive=True)
    except psutil.Error:
        return []


def kill_tree(pid: int, sig: int = signal.SIGKILL) -> None:
    """Signal the process group and any descendant that left it (setsid, daemons)."""
    procs = tree(pid)
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
    for p in procs:
        try:
            p.send_signal(sig)
        except psutil.Error:
            pass


class LogWriter:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.fh = open(path, "ab", buffering=0)

    def write(self, stream: str, text: bytes, partial: bool = False) -> None:
        tag = b" P " if partial else b" F "
        self.fh.write(cri_timestamp().encode() + b" " + stream.encode() + tag + text + b"\n")

    def close(self) -> None:
        try:
            self.fh.close()
        except OSError:
            pass


async def pump(reader: asyncio.StreamReader, log: LogWriter, stream: str) -> None:
    pending = b""
    while True:
        chunk = await reader.read(65536)
        if not chunk:
            break
        pending += chunk
        while True:
            nl = pending.find(b"\n")
            if nl < 0:
                break
            line, pending = pending[:nl], pending[nl + 1 :]
            while len(line) > CHUNK:
                log.write(stream, line[:CHUNK], partial=True)
                line = line[CHUNK:]
            log.write(stream, line)
        while len(pending) > CHUNK:
            log.write(stream, pending[:CHUNK], partial=True)
            pending = pending[CHUNK:]
    if pending:
        log.write(stream, pending)


class ContainerProcess:
    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path, log_path: Path, stop_signal: int):
        self.argv = argv
        self.env = env
        self.cwd = cwd
        self.log_path = log_path
        self.stop_signal = stop_signal
        self.proc: asyncio.subprocess.Process | None = None
        self.started_at = 0.0
        self._pumps: list[asyncio.Task] = []
        self._log: LogWriter | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    async def start(self) -> None:
        """Raises OSError (e.g. FileNotFoundError) when the executable cannot be started."""
        self._log = LogWriter(self.log_path)
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                env=self.env, cwd=str(self.cwd), start_new_session=True,
            )
        except OSError:
            self._log.close()
            raise
        self.started_at = time.time()
        self._pumps = [asyncio.create_task(pump(self.proc.stdout, self._log, "stdout")), asyncio.create_task(pump(self.proc.stderr, self._log, "stderr"))]

    async def wait(self) -> int:
        """Exit code as a container runtime reports it (128+N for a signal)."""
        assert self.proc is not None
        rc = await self.proc.wait()
        # the pipes may be held open by a daemonised grandchild: do not wait for EOF forever
        done, pending = await asyncio.wait(self._pumps, timeout=1.0)
        for t in pending:
            t.cancel()
        if self._log:
            self._log.close()
        kill_tree(self.proc.pid)  # what is left of the group dies with the container
        return 128 - rc if rc < 0 else rc

    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    def signal(self, sig: int) -> None:
        if self.running():
            try:
                os.kill(self.proc.pid, sig)
            except ProcessLookupError:
                pass

    async def stop(self, grace: float) -> None:
        if not self.running():
            return
        self.signal(self.stop_signal)
        try:
            await asyncio.wait_for(asyncio.shield(self.proc.wait()), timeout=max(grace, 0.05))
        except asyncio.TimeoutError:
            pass
        kill_tree(self.proc.pid)
        await self.proc.wait()

"""What exec means whatever the wire: the exit Status exactly as the kubelet reports it, and the
pumps that move a process's output to the client with one chunk in flight per stream (each send
waits until the transport took it), so a 500 MB stdout never sits in the server's memory."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from dataclasses import dataclass
from typing import Awaitable, Callable

CHUNK = 64 * 1024

Send = Callable[[bytes], Awaitable[None]]


def exit_code_of(returncode: int) -> int:
    """A process killed by a signal exits 128+N inside a container, as a shell reports it."""
    return returncode if returncode >= 0 else 128 - returncode


def exit_status(code: int, command: list[str]) -> dict:
    """The error-channel Status of the v4/v5 protocols, as the kubelet writes it."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"command terminated with non-zero exit code: error executing command [{' '.join(command)}], exit code {code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


def status_bytes(code: int, command: list[str], v4: bool) -> bytes:
    """v4+: the Status JSON. Older protocols: the failure message as text, nothing on success."""
    status = exit_status(code, command)
    if v4:
        return json.dumps(status, separators=(",", ":")).encode()
    return status.get("message", "").encode()


@dataclass
class Outcome:
    exit_code: int | None  # None: the stream was cut (fault) or the client went away
    stdout_bytes: int = 0


async def feed_stdin(proc: asyncio.subprocess.Process, data: bytes) -> bool:
    """Write to the process's stdin and wait for the pipe to take it; False once it is gone."""
    if proc.stdin is None or proc.stdin.is_closing():
        return False
    try:
        proc.stdin.write(data)
        await proc.stdin.drain()
        return True
    except (BrokenPipeError, ConnectionResetError):
        return False


def close_stdin(proc: asyncio.subprocess.Process) -> None:
    if proc.stdin is not None and not proc.stdin.is_closing():
        with contextlib.suppress(Exception):
            proc.stdin.close()


def kill(proc: asyncio.subprocess.Process) -> None:
    """Kill a command that is still running, and everything it started: exec'd commands run in
    their own session, and a shell's children (`pg_dump | tee`) would otherwise outlive it,
    blocked forever on a pipe nobody reads and holding their database locks. (Only while the
    leader is unreaped, so the group id cannot belong to anyone else.)"""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            proc.kill()


async def run_output(
    proc: asyncio.subprocess.Process,
    stdout: Send | None,
    stderr: Send | None,
    cut_after: int | None = None,
    on_cut: Callable[[], None] | None = None,
) -> Outcome:
    """Pump stdout/stderr to the client until both end, then wait for the exit code. Output the
    client did not ask for is read and dropped so the process never blocks on a full pipe."""
    sent = 0
    cut = False

    async def pump(reader: asyncio.StreamReader | None, send: Send | None, counted: bool) -> None:
        nonlocal sent, cut
        if reader is None:
            return
        while True:
            data = await reader.read(CHUNK)
            if not data:
                return
            if counted and cut_after is not None and sent + len(data) >= cut_after:
                data = data[: max(0, cut_after - sent)]
                if data and send is not None:
                    await send(data)
                sent += len(data)
                cut = True
                kill(proc)
                if on_cut is not None:
                    on_cut()  # the fault: the connection drops mid-stream
                return
            if send is not None:
                await send(data)
            if counted:
                sent += len(data)

    tasks = [asyncio.ensure_future(pump(proc.stdout, stdout, True)), asyncio.ensure_future(pump(proc.stderr, stderr, False))]
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for t in done:
            t.result()  # a failed send (client gone) propagates
        if cut:
            kill(proc)
            return Outcome(None, sent)
        code = await proc.wait()
        return Outcome(exit_code_of(code), sent)
    finally:
        for t in tasks:
            if not t.done():
                t.cancel()

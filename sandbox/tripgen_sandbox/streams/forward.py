"""One forwarded connection, whatever carries it (a WebSocket channel pair or a SPDY stream pair):
connect to podIP:port from loopback and copy both ways with one chunk in flight per direction.
Like containerd: when the pod side closes first, the client side gets at most a second more."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Awaitable, Callable

CHUNK = 64 * 1024
Read = Callable[[], Awaitable[bytes]]
Send = Callable[[bytes], Awaitable[None]]
Close = Callable[[], Awaitable[None]]


def describe_error(cluster, namespace: str, pod: str, port: int, ip: str, exc: BaseException) -> str:
    """The error-stream text, shaped like the kubelet/containerd message kubectl prints."""
    uid = ""
    with contextlib.suppress(Exception):
        uid = (cluster.store.get("pods", namespace, pod) or {}).get("metadata", {}).get("uid", "")
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return (
        f"error forwarding port {port} to pod {pod}, uid {uid}: failed to execute portforward in network namespace: "
        f"failed to connect to localhost:{port} inside namespace: dial tcp4 {ip}:{port}: connect: {reason.lower()}"
    )


async def connect(ip: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(ip, port, limit=CHUNK)


async def pipe(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    read_client: Read,
    send_client: Send,
    close_client: Close,
) -> None:
    async def up() -> None:  # client -> pod
        while True:
            data = await read_client()
            if not data:
                if writer.can_write_eof():
                    with contextlib.suppress(OSError):
                        writer.write_eof()
                return
            writer.write(data)
            await writer.drain()

    async def down() -> None:  # pod -> client
        while True:
            data = await reader.read(CHUNK)
            if not data:
                await close_client()
                return
            await send_client(data)

    t_up, t_down = asyncio.ensure_future(up()), asyncio.ensure_future(down())
    try:
        done, _ = await asyncio.wait({t_up, t_down}, return_when=asyncio.FIRST_COMPLETED)
        if t_down in done and not t_up.done():
            await asyncio.wait({t_up}, timeout=1.0)
        elif t_up in done and not t_down.done():
            if t_up.exception() is not None:
                pass  # the pod side went away while we wrote; down() ends on its own
            await asyncio.wait({t_down})
    finally:
        for t in (t_up, t_down):
            if not t.done():
                t.cancel()
        for t in (t_up, t_down):
            with contextlib.suppress(BaseException):
                await t
        writer.close()

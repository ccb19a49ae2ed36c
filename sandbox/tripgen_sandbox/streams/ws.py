"""exec and port-forward over WebSocket: the channel protocols (v5/v4/v1 channel.k8s.io, binary
or base64 text) and portforward.k8s.io (per port: data channel 2i and error channel 2i+1, each
opened by a frame holding the port as 2 little-endian bytes). `SPDY/3.1+portforward.k8s.io`
(kubectl >= 1.31) hands the socket to the SPDY port-forward: SPDY frames inside binary messages."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import struct
from dataclasses import dataclass

from aiohttp import WSMsgType, web

from tripgen_sandbox.apierrors import ApiError
from tripgen_sandbox.streams import execio, forward

log = logging.getLogger(__name__)

STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
TUNNEL_PORTFORWARD = "SPDY/3.1+portforward.k8s.io"


@dataclass(frozen=True)
class ChannelProtocol:
    name: str
    binary: bool  # False: text frames, channel as an ASCII digit, payload base64
    v4_status: bool  # the error channel carries Status JSON (else a failure message only)
    close_signal: bool  # v5: [255, channel] half-closes a channel


EXEC_PROTOCOLS = {
    p.name: p
    for p in (
        ChannelProtocol("v5.channel.k8s.io", True, True, True),
        ChannelProtocol("v4.channel.k8s.io", True, True, False),
        ChannelProtocol("v4.base64.channel.k8s.io", False, True, False),
        ChannelProtocol("channel.k8s.io", True, False, False),
        ChannelProtocol("base64.channel.k8s.io", False, False, False),
    )
}
# the Python client offers its exec protocols for port-forward too
PORTFORWARD_PROTOCOLS = ("portforward.k8s.io", TUNNEL_PORTFORWARD, "v5.channel.k8s.io", "v4.channel.k8s.io")


def offered(request: web.Request) -> list[str]:
    return [p.strip() for v in request.headers.getall("Sec-WebSocket-Protocol", []) for p in v.split(",") if p.strip()]


def choose(client: list[str], supported) -> str | None:
    """The first protocol in the client's order that we speak (wsstream's negotiation)."""
    return next((p for p in client if p in supported), None)


class Channels:
    """Send/receive channel-prefixed messages; sends after the client left are dropped."""

    def __init__(self, ws: web.WebSocketResponse, binary: bool = True):
        self.ws = ws
        self.binary = binary
        self.gone = False

    async def send(self, channel: int, data: bytes) -> None:
        if self.gone or self.ws.closed:
            self.gone = True
            return
        try:
            if self.binary:
                await self.ws.send_bytes(bytes([channel]) + data)
            else:
                await self.ws.send_str(chr(ord("0") + channel) + base64.b64encode(data).decode())
        except (ConnectionError, RuntimeError):
            self.gone = True

    def sender(self, channel: int):
        async def send(data: bytes) -> None:
            await self.send(channel, data)

        return send

    def decode(self, msg) -> tuple[int, bytes] | None:
        """One client message by the negotiated subprotocol, as wsstream reads it: the frame's
        bytes whatever its opcode (the Python client sends a str as a TEXT frame), channel in the
        first byte; only the base64 protocols carry an ASCII channel digit and base64 payload."""
        if msg.type not in (WSMsgType.BINARY, WSMsgType.TEXT) or not msg.data:
            return None
        raw = msg.data if isinstance(msg.data, bytes) else msg.data.encode("utf-8")
        if self.binary:
            return raw[0], raw[1:]
        try:
            return raw[0] - ord("0"), base64.b64decode(raw[1:])
        except ValueError:
            return None


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "false").lower() in ("true", "1")


async def exec_ws(request: web.Request, cluster, namespace: str, pod: str, command: list[str]) -> web.StreamResponse:
    name = choose(offered(request), EXEC_PROTOCOLS) or ("channel.k8s.io" if not offered(request) else None)
    if name is None:
        raise ApiError(400, f"unable to upgrade: no supported subprotocol among {offered(request)}")
    proto = EXEC_PROTOCOLS[name]
    want_stdin, tty = _flag(request, "stdin"), _flag(request, "tty")
    want_stdout = request.query.get("stdout", "true").lower() in ("true", "1")
    want_stderr = request.query.get("stderr", "true").lower() in ("true", "1")
    proc = await cluster.kubelet.exec(namespace, pod, request.query.get("container"), command, tty)
    ws = web.WebSocketResponse(protocols=(name,) if offered(request) else (), max_msg_size=0, autoping=True, heartbeat=None)
    try:
        await ws.prepare(request)
    except BaseException:
        execio.kill(proc)
        raise
    ch = Channels(ws, proto.binary)
    if not want_stdin:
        execio.close_stdin(proc)

    async def feed() -> None:
        try:
            async for msg in ws:
                decoded = ch.decode(msg)
                if decoded is None:
                    continue
                channel, payload = decoded
                if channel == STDIN and want_stdin:
                    if payload and not await execio.feed_stdin(proc, payload):
                        continue
                elif channel == CLOSE and proto.close_signal and payload[:1] == bytes([STDIN]):
                    execio.close_stdin(proc)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            execio.close_stdin(proc)  # v4 clients end stdin by closing the connection
            if ws.closed:
                ch.gone = True

    feeder = asyncio.ensure_future(feed())
    cut = (cluster.faults or {}).get("exec-cut-after-bytes")
    try:
        outcome = await execio.run_output(
            proc,
            ch.sender(STDOUT) if want_stdout else None,
            ch.sender(STDERR) if want_stderr and not tty else None,
            cut_after=int(cut) if cut is not None else None,
            on_cut=lambda: request.transport.abort() if request.transport else None,
        )
        if outcome.exit_code is not None:
            status = execio.status_bytes(outcome.exit_code, command, proto.v4_status)
            if status:
                await ch.send(ERROR, status)
            with contextlib.suppress(Exception):
                await ws.close()
    finally:
        feeder.cancel()
        await _reap(proc)
    return ws


async def _reap(proc, grace: float = 10.0) -> None:
    """A client that left does not take the process with it at once (its stdin just ended)."""
    if proc.returncode is None:
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(proc.wait()), grace)
    execio.kill(proc)


async def portforward_ws(request: web.Request, cluster, namespace: str, pod: str) -> web.StreamResponse:
    name = choose(offered(request), PORTFORWARD_PROTOCOLS) or "portforward.k8s.io"
    if name == TUNNEL_PORTFORWARD:
        from tripgen_sandbox.streams import spdyserve

        ws = web.WebSocketResponse(protocols=(name,), max_msg_size=0, autoping=True, heartbeat=None)
        await ws.prepare(request)
        await spdyserve.portforward_session(WSBytes(ws), WSBytes(ws), cluster, namespace, pod)
        with contextlib.suppress(Exception):
            await ws.close()
        return ws
    ports = [int(p) for v in request.query.getall("ports", []) for p in v.split(",") if p.strip()]
    if not ports:
        raise ApiError(400, 'query parameter "port" is required')
    ip = cluster.kubelet.pod_ip(namespace, pod)
    ws = web.WebSocketResponse(protocols=(name,), max_msg_size=0, autoping=True, heartbeat=None)
    await ws.prepare(request)
    ch = Channels(ws)
    inbound: dict[int, asyncio.Queue] = {i: asyncio.Queue(maxsize=4) for i in range(len(ports))}

    async def one(i: int, port: int) -> None:
        header = struct.pack("<H", port)
        await ch.send(2 * i, header)
        await ch.send(2 * i + 1, header)
        try:
            reader, writer = await forward.connect(ip, port)
        except OSError as exc:
            await ch.send(2 * i + 1, forward.describe_error(cluster, namespace, pod, port, ip, exc).encode())
            return

        async def read_client() -> bytes:
            return await inbound[i].get()

        async def close_client() -> None:
            pass  # a WebSocket channel has no half-close; the connection ends below

        await forward.pipe(reader, writer, read_client, ch.sender(2 * i), close_client)

    async def demux() -> None:
        try:
            async for msg in ws:
                if msg.type != WSMsgType.BINARY or len(msg.data) < 2:
                    continue
                channel = msg.data[0]
                if channel % 2 == 0 and channel // 2 in inbound:
                    await inbound[channel // 2].put(msg.data[1:])  # bounded: reading pauses
        finally:
            for q in inbound.values():
                with contextlib.suppress(asyncio.QueueFull):
                    q.put_nowait(b"")

    reader_task = asyncio.ensure_future(demux())
    workers = [asyncio.ensure_future(one(i, p)) for i, p in enumerate(ports)]
    try:
        await asyncio.wait(workers + [reader_task], return_when=asyncio.FIRST_COMPLETED)
        if not reader_task.done():
            await asyncio.wait(workers)  # every port done: the pod side closed
    finally:
        for t in workers + [reader_task]:
            t.cancel()
        with contextlib.suppress(Exception):
            await ws.close()
    return ws


class WSBytes:
    """A WebSocket as a byte stream (the SPDY tunnel): message boundaries mean nothing."""

    def __init__(self, ws: web.WebSocketResponse):
        self.ws = ws
        self._buf = bytearray()

    async def readexactly(self, n: int) -> bytes:
        while len(self._buf) < n:
            msg = await self.ws.receive()
            if msg.type == WSMsgType.BINARY:
                self._buf += msg.data
            elif msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                raise asyncio.IncompleteReadError(bytes(self._buf), n)
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    async def send(self, data: bytes) -> None:
        try:
            await self.ws.send_bytes(data)
        except RuntimeError as exc:
            raise ConnectionResetError(str(exc)) from exc

    def abort(self) -> None:
        pass

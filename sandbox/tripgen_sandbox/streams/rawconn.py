"""The one place that reaches under aiohttp: answering a non-WebSocket `Upgrade` (SPDY/3.1) with
our own 101 and then owning the connection's bytes. aiohttp only switches protocols for
`websocket`, so we install a payload parser of our own (as WebSocketResponse does) that feeds an
asyncio.StreamReader bound to the transport: reading pauses when it holds 2 x LIMIT bytes."""

from __future__ import annotations

import asyncio

from aiohttp import web

LIMIT = 256 * 1024


class _Feeder:
    """What aiohttp's protocol calls with every chunk of the upgraded connection."""

    def __init__(self, reader: asyncio.StreamReader):
        self.reader = reader

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        if data:
            self.reader.feed_data(data)
        return False, b""

    def feed_eof(self) -> None:
        self.reader.feed_eof()


class RawConnection:
    """Bytes in (`readexactly`) and out (`send`, which waits for the transport to drain)."""

    def __init__(self, request: web.Request, reader: asyncio.StreamReader, writer):
        self._request = request
        self._reader = reader
        self._writer = writer  # aiohttp's payload writer: only used for drain()

    async def readexactly(self, n: int) -> bytes:
        return await self._reader.readexactly(n)

    async def send(self, data: bytes) -> None:
        transport = self._request.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("connection lost")
        transport.write(data)
        await self._writer.drain()

    def abort(self) -> None:
        if self._request.transport is not None:
            self._request.transport.abort()

    def close(self) -> None:
        if self._request.transport is not None:
            self._request.transport.close()


class _SwitchingProtocols(web.StreamResponse):
    _length_check = False  # no Content-Length / chunking: the body is another protocol

    async def write_eof(self, data: bytes = b"") -> None:  # nothing to terminate
        self._eof_sent = True


async def upgrade(request: web.Request, headers: dict[str, str]) -> tuple[web.StreamResponse, RawConnection]:
    """Send `101 Switching Protocols` with `headers` and return the raw connection."""
    protocol = request.protocol
    transport = request.transport
    if transport is None or protocol is None:
        raise ConnectionResetError("connection lost")
    resp = _SwitchingProtocols(status=101, headers=headers)
    resp.force_close()
    reader = asyncio.StreamReader(limit=LIMIT)
    reader.set_transport(transport)
    writer = await resp.prepare(request)
    protocol.set_parser(_Feeder(reader))
    protocol.keep_alive(False)
    await writer.drain()
    return resp, RawConnection(request, reader, writer)

"""SPDY/3.1 framing and one server-side session, as Go's moby/spdystream (kubectl and the kubelet)
speaks it. Kept free of Kubernetes semantics: exec and port-forward open streams on top of it.

Flow control: Go's spdystream neither sends nor honours WINDOW_UPDATE, so waiting for a window it
will never open would stall every transfer past 64 KiB. A peer that shows it does flow control (a
SETTINGS INITIAL_WINDOW_SIZE or any WINDOW_UPDATE) gets its windows honoured; until then the
transport's own back-pressure (awaiting drain) bounds what we send. We always advertise and
re-open our receive windows as the application consumes data, and never buffer more than one
window per stream, so memory stays bounded either way."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import zlib
from collections import deque
from typing import Awaitable, Callable, Protocol

log = logging.getLogger(__name__)

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
SETTINGS_INITIAL_WINDOW_SIZE = 7
RST_PROTOCOL_ERROR, RST_INVALID_STREAM, RST_REFUSED_STREAM, RST_CANCEL = 1, 2, 3, 5
DEFAULT_WINDOW = 64 * 1024
RECV_WINDOW = 256 * 1024  # what we advertise per stream; also the most we buffer per stream
MAX_DATA = 64 * 1024  # largest DATA frame we send


def _dictionary() -> bytes:
    """The zlib dictionary of SPDY/3 (draft-mbelshe-httpbis-spdy-00, section 2.6.10.1)."""
    words = (
        "options head post put delete trace accept accept-charset accept-encoding accept-language "
        "accept-ranges age allow authorization cache-control connection content-base content-encoding "
        "content-language content-length content-location content-md5 content-range content-type date "
        "etag expect expires from host if-match if-modified-since if-none-match if-range "
        "if-unmodified-since last-modified location max-forwards pragma proxy-authenticate "
        "proxy-authorization range referer retry-after server te trailer transfer-encoding upgrade "
        "user-agent vary via warning www-authenticate method get status"
    ).split() + ["200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie", "keep-alive", "origin"]
    head = b"".join(struct.pack(">I", len(w)) + w.encode() for w in words)
    tail = (
        "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
        "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request"
        "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented"
        "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 "
        "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,"
        "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
        "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
    )
    return head + tail.encode()


DICTIONARY = _dictionary()

Headers = dict[str, list[str]]


def encode_header_block(headers: Headers) -> bytes:
    out = [struct.pack(">I", len(headers))]
    for name, values in headers.items():
        n, v = name.lower().encode(), "\x00".join(values).encode()
        out += [struct.pack(">I", len(n)), n, struct.pack(">I", len(v)), v]
    return b"".join(out)


def decode_header_block(raw: bytes) -> Headers:
    (count,), pos, out = struct.unpack_from(">I", raw), 4, {}
    for _ in range(count):
        (n,) = struct.unpack_from(">I", raw, pos)
        name = raw[pos + 4 : pos + 4 + n].decode("latin-1").lower()
        pos += 4 + n
        (n,) = struct.unpack_from(">I", raw, pos)
        value = raw[pos + 4 : pos + 4 + n].decode("latin-1")
        pos += 4 + n
        out.setdefault(name, []).extend(value.split("\x00"))
    return out


class HeaderCodec:
    """One zlib context per direction for the whole connection, as the protocol requires."""

    def __init__(self) -> None:
        self._out = zlib.compressobj(9, zlib.DEFLATED, 15, 8, zlib.Z_DEFAULT_STRATEGY, DICTIONARY)
        self._in = zlib.decompressobj(zdict=DICTIONARY)

    def compress(self, headers: Headers) -> bytes:
        return self._out.compress(encode_header_block(headers)) + self._out.flush(zlib.Z_SYNC_FLUSH)

    def decompress(self, block: bytes) -> Headers:
        return decode_header_block(self._in.decompress(block))


def control_frame(ftype: int, flags: int, payload: bytes) -> bytes:
    return struct.pack(">HHI", 0x8000 | VERSION, ftype, (flags << 24) | len(payload)) + payload


def data_frame(stream_id: int, data: bytes, fin: bool = False) -> bytes:
    return struct.pack(">II", stream_id & 0x7FFFFFFF, ((FLAG_FIN if fin else 0) << 24) | len(data)) + data


class ByteSource(Protocol):
    async def readexactly(self, n: int) -> bytes: ...  # asyncio.IncompleteReadError at EOF


class ByteSink(Protocol):
    async def send(self, data: bytes) -> None: ...  # returns when the transport accepted it (drain)

    def abort(self) -> None: ...


class SpdyError(Exception):
    pass


class Stream:
    """One SPDY stream seen from the server: read() what the peer sends, write()/close() ours."""

    def __init__(self, session: "Session", stream_id: int, headers: Headers, fin: bool):
        self.session = session
        self.id = stream_id
        self.headers = headers
        self._buf: deque[bytes] = deque()
        self._buffered = 0
        self._eof = fin
        self.reset = False
        self._readable = asyncio.Event()
        self._space = asyncio.Event()
        self._space.set()
        self.send_window = session.peer_initial_window
        self._window_open = asyncio.Event()
        self._unacked = 0
        self.local_closed = False

    def header(self, name: str, default: str = "") -> str:
        values = self.headers.get(name.lower())
        return values[0] if values else default

    # -- inbound -------------------------------------------------------------------------------
    async def _feed(self, data: bytes) -> None:
        while self._buffered >= RECV_WINDOW and not self.reset:
            self._space.clear()
            await self._space.wait()  # the reader loop waits: TCP back-pressure on the peer
        if self.reset or self._eof:
            return
        self._buf.append(data)
        self._buffered += len(data)
        self._readable.set()

    def _feed_eof(self) -> None:
        self._eof = True
        self._readable.set()

    def _reset(self) -> None:
        self.reset = True
        self._eof = True
        self._readable.set()
        self._space.set()
        self._window_open.set()

    async def read(self) -> bytes:
        """Next chunk from the peer; b"" once it finished (FIN) or reset the stream."""
        while not self._buf:
            if self._eof:
                return b""
            self._readable.clear()
            await self._readable.wait()
        data = self._buf.popleft()
        self._buffered -= len(data)
        self._space.set()
        self._unacked += len(data)
        if self._unacked >= RECV_WINDOW // 2 and not self._eof:
            delta, self._unacked = self._unacked, 0
            await self.session._window_update(self.id, delta)
        await self.session._consumed(len(data))
        return data

    @property
    def at_eof(self) -> bool:
        return self._eof and not self._buf

    # -- outbound ------------------------------------------------------------------------------
    async def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self.reset or self.local_closed:
                raise ConnectionResetError(f"SPDY stream {self.id} is closed")
            n = await self.session._reserve(self, min(len(view), MAX_DATA))
            if self.reset:
                raise ConnectionResetError(f"SPDY stream {self.id} was reset")
            await self.session._send(data_frame(self.id, bytes(view[:n])))
            view = view[n:]

    async def close(self) -> None:
        """Half-close: a DATA frame with FLAG_FIN."""
        if self.local_closed or self.reset:
            return
        self.local_closed = True
        with contextlib.suppress(ConnectionError, OSError):
            await self.session._send(data_frame(self.id, b"", fin=True))

    async def send_reset(self, status: int = RST_CANCEL) -> None:
        if not self.reset:
            self._reset()
            with contextlib.suppress(ConnectionError, OSError):
                await self.session._send(control_frame(RST_STREAM, 0, struct.pack(">II", self.id, status)))


class Session:
    """Server side of one SPDY connection. `on_stream` is called (as a task) for each SYN_STREAM
    after the SYN_REPLY went out, the way the kubelet's spdystream accepts every stream."""

    def __init__(self, source: ByteSource, sink: ByteSink, on_stream: Callable[[Stream], Awaitable[None] | None]):
        self.source = source
        self.sink = sink
        self.on_stream = on_stream
        self.codec = HeaderCodec()
        self.streams: dict[int, Stream] = {}
        self.peer_initial_window = DEFAULT_WINDOW
        self.peer_flow_control = False
        self.session_send_window = DEFAULT_WINDOW
        self._session_window_open = asyncio.Event()
        self._session_unacked = 0
        self._wlock = asyncio.Lock()
        self._tasks: set[asyncio.Task] = set()
        self.closed = asyncio.Event()  # the peer went away (EOF, GOAWAY or a protocol error)
        self.goaway_received = False
        self._last_stream_id = 0

    # -- writing -------------------------------------------------------------------------------
    async def _send(self, frame: bytes) -> None:
        async with self._wlock:
            await self.sink.send(frame)

    async def _send_headers_frame(self, ftype: int, flags: int, prefix: bytes, headers: Headers) -> None:
        async with self._wlock:  # compress and send in one step: the zlib context is ordered
            await self.sink.send(control_frame(ftype, flags, prefix + self.codec.compress(headers)))

    async def reply(self, stream: Stream, headers: Headers | None = None) -> None:
        await self._send_headers_frame(SYN_REPLY, 0, struct.pack(">I", stream.id), headers or {})

    async def _window_update(self, stream_id: int, delta: int) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            await self._send(control_frame(WINDOW_UPDATE, 0, struct.pack(">II", stream_id, delta)))

    async def _consumed(self, n: int) -> None:
        self._session_unacked += n
        if self._session_unacked >= RECV_WINDOW:
            delta, self._session_unacked = self._session_unacked, 0
            await self._window_update(0, delta)

    async def _reserve(self, stream: Stream, want: int) -> int:
        """How many bytes `stream` may send now, waiting for the peer's windows if it uses them."""
        while True:
            if not self.peer_flow_control or stream.reset:
                n = want
            else:
                n = min(want, stream.send_window, self.session_send_window)
            if n > 0:
                stream.send_window -= n
                self.session_send_window -= n
                return n
            if self.closed.is_set():
                raise ConnectionResetError("SPDY connection closed")
            stream._window_open.clear()
            self._session_window_open.clear()
            waits = [asyncio.ensure_future(stream._window_open.wait()), asyncio.ensure_future(self._session_window_open.wait()), asyncio.ensure_future(self.closed.wait())]
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waits:
                    w.cancel()

    async def goaway(self) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            await self._send(control_frame(GOAWAY, 0, struct.pack(">II", self._last_stream_id, 0)))

    async def start(self) -> None:
        """Advertise a larger receive window to peers that do flow control (spdystream ignores it)."""
        await self._send(control_frame(SETTINGS, 0, struct.pack(">III", 1, SETTINGS_INITIAL_WINDOW_SIZE, RECV_WINDOW)))
        await self._send(control_frame(WINDOW_UPDATE, 0, struct.pack(">II", 0, 4 * RECV_WINDOW - DEFAULT_WINDOW)))

    # -- reading -------------------------------------------------------------------------------
    def _spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(self) -> None:
        """Read frames until the peer closes; then every stream sees EOF/reset."""
        try:
            while True:
                try:
                    head = await self.source.readexactly(8)
                except (asyncio.IncompleteReadError, ConnectionError, OSError):
                    return
                first, second = struct.unpack(">II", head)
                flags, length = second >> 24, second & 0xFFFFFF
                payload = await self.source.readexactly(length) if length else b""
                if first & 0x80000000:
                    await self._control((first >> 16) & 0x7FFF, first & 0xFFFF, flags, payload)
                else:
                    await self._data(first & 0x7FFFFFFF, flags, payload)
                if self.goaway_received:
                    return
        except asyncio.IncompleteReadError:
            return
        except SpdyError as exc:
            log.debug("SPDY protocol error: %s", exc)
            with contextlib.suppress(Exception):
                await self._send(control_frame(GOAWAY, 0, struct.pack(">II", self._last_stream_id, 1)))
        finally:
            self.closed.set()
            self._session_window_open.set()
            for s in list(self.streams.values()):
                if not s._eof:
                    s._reset()
                s._window_open.set()

    async def _data(self, stream_id: int, flags: int, payload: bytes) -> None:
        stream = self.streams.get(stream_id)
        if stream is None or stream.reset:
            if stream is None and stream_id:
                self._spawn(self._send(control_frame(RST_STREAM, 0, struct.pack(">II", stream_id, RST_INVALID_STREAM))))
            return
        if payload:
            await stream._feed(payload)
        if flags & FLAG_FIN:
            stream._feed_eof()

    async def _control(self, version: int, ftype: int, flags: int, payload: bytes) -> None:
        if version != VERSION:
            raise SpdyError(f"unsupported SPDY version {version}")
        if ftype == SYN_STREAM:
            if len(payload) < 10:
                raise SpdyError("short SYN_STREAM")
            stream_id = struct.unpack_from(">I", payload)[0] & 0x7FFFFFFF
            headers = self.codec.decompress(payload[10:])
            if stream_id in self.streams or stream_id % 2 == 0:
                await self._send(control_frame(RST_STREAM, 0, struct.pack(">II", stream_id, RST_PROTOCOL_ERROR)))
                return
            stream = Stream(self, stream_id, headers, fin=bool(flags & FLAG_FIN))
            self.streams[stream_id] = stream
            self._last_stream_id = max(self._last_stream_id, stream_id)
            await self.reply(stream)
            result = self.on_stream(stream)
            if asyncio.iscoroutine(result):
                self._spawn(result)
        elif ftype in (SYN_REPLY, HEADERS):
            self.codec.decompress(payload[4:])  # keep the zlib context in step; nothing to do
            stream = self.streams.get(struct.unpack_from(">I", payload)[0] & 0x7FFFFFFF)
            if stream is not None and flags & FLAG_FIN:
                stream._feed_eof()
        elif ftype == RST_STREAM:
            stream = self.streams.get(struct.unpack_from(">I", payload)[0] & 0x7FFFFFFF)
            if stream is not None:
                stream._reset()
        elif ftype == SETTINGS:
            (count,) = struct.unpack_from(">I", payload)
            for i in range(count):
                id_, value = struct.unpack_from(">II", payload, 4 + 8 * i)
                if id_ & 0xFFFFFF == SETTINGS_INITIAL_WINDOW_SIZE:
                    delta = value - self.peer_initial_window
                    self.peer_initial_window = value
                    self.peer_flow_control = True
                    for s in self.streams.values():
                        s.send_window += delta
                        s._window_open.set()
        elif ftype == PING:
            self._spawn(self._send(control_frame(PING, 0, payload[:4])))
        elif ftype == GOAWAY:
            self.goaway_received = True
        elif ftype == WINDOW_UPDATE:
            stream_id, delta = struct.unpack_from(">II", payload)
            stream_id, delta = stream_id & 0x7FFFFFFF, delta & 0x7FFFFFFF
            self.peer_flow_control = True
            if stream_id == 0:
                self.session_send_window += delta
                self._session_window_open.set()
            elif (stream := self.streams.get(stream_id)) is not None:
                stream.send_window += delta
                stream._window_open.set()
        # unknown control frames are ignored, as the protocol asks

    async def shutdown(self, grace: float = 5.0) -> None:
        """GOAWAY, then give the peer `grace` seconds to close its end before we abort."""
        await self.goaway()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.closed.wait(), grace)
        for t in list(self._tasks):
            t.cancel()

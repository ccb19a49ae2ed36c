"""exec and port-forward over SPDY/3.1, as kubectl 1.29 (and later kubectl with the WebSocket
paths switched off) speaks them to the kubelet: after the 101, the client opens one SPDY stream
per role with a `streamType` header (exec: error, stdin, stdout, stderr, resize; port-forward: an
error and a data stream per connection, paired by `requestID`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import web

from tripgen_sandbox.apierrors import ApiError
from tripgen_sandbox.streams import execio, forward, rawconn
from tripgen_sandbox.streams.spdy import Session, Stream

log = logging.getLogger(__name__)

EXEC_VERSIONS = ("v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io")
PORTFORWARD_VERSION = "portforward.k8s.io"
STREAM_CREATION_TIMEOUT = 30.0


def client_protocols(request: web.Request) -> list[str]:
    return [p.strip() for v in request.headers.getall("X-Stream-Protocol-Version", []) for p in v.split(",") if p.strip()]


def negotiate(request: web.Request, supported: tuple[str, ...]) -> str:
    """httpstream.Handshake: the first client protocol the server supports, else 403."""
    client = client_protocols(request)
    if not client:
        raise ApiError(400, "unable to upgrade: X-Stream-Protocol-Version is required")
    chosen = next((p for p in client if p in supported), None)
    if chosen is None:
        raise ApiError(403, f"unable to upgrade: unable to negotiate protocol: client supports {client}, server accepts {list(supported)}", "Forbidden")
    return chosen


def _upgrade_headers(protocol: str) -> dict[str, str]:
    return {"Connection": "Upgrade", "Upgrade": "SPDY/3.1", "X-Stream-Protocol-Version": protocol}


def _flag(request: web.Request, name: str, default: str = "false") -> bool:
    return request.query.get(name, default).lower() in ("true", "1")


async def exec_spdy(request: web.Request, cluster, namespace: str, pod: str, command: list[str]) -> web.StreamResponse:
    protocol = negotiate(request, EXEC_VERSIONS)
    want_stdin, tty = _flag(request, "stdin"), _flag(request, "tty")
    want_stdout, want_stderr = _flag(request, "stdout", "true"), _flag(request, "stderr", "true")
    expected = {"error"} | ({"stdin"} if want_stdin else set()) | ({"stdout"} if want_stdout else set())
    expected |= {"stderr"} if want_stderr and not tty else set()
    expected |= {"resize"} if tty and protocol != "v2.channel.k8s.io" else set()
    proc = await cluster.kubelet.exec(namespace, pod, request.query.get("container"), command, tty)
    try:
        resp, conn = await rawconn.upgrade(request, _upgrade_headers(protocol))
    except BaseException:
        execio.kill(proc)
        raise
    streams: dict[str, Stream] = {}
    ready = asyncio.Event()

    async def discard(stream: Stream) -> None:  # terminal resizes: no terminal to resize
        while await stream.read():
            pass

    def on_stream(stream: Stream):
        kind = stream.header("streamtype")
        streams.setdefault(kind, stream)
        if expected <= streams.keys():
            ready.set()
        return discard(stream) if kind == "resize" else None

    session = Session(conn, conn, on_stream)
    reader = asyncio.ensure_future(session.run())
    feeder: asyncio.Task | None = None
    try:
        await session.start()
        closed = asyncio.ensure_future(session.closed.wait())
        got = asyncio.ensure_future(ready.wait())
        await asyncio.wait({closed, got}, timeout=STREAM_CREATION_TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
        closed.cancel(), got.cancel()
        if not ready.is_set():
            execio.kill(proc)
            return resp
        if want_stdin:
            feeder = asyncio.ensure_future(_feed_stdin(streams["stdin"], proc))
        else:
            execio.close_stdin(proc)
        gone = False

        def sender(kind: str):
            stream = streams.get(kind)
            if stream is None:
                return None

            async def send(data: bytes) -> None:
                nonlocal gone
                if gone:
                    return
                try:
                    await stream.write(data)
                except (ConnectionError, OSError):
                    gone = True  # the client left: drop the rest, let the process finish

            return send

        cut = (cluster.faults or {}).get("exec-cut-after-bytes")
        outcome = await execio.run_output(
            proc, sender("stdout"), sender("stderr"),
            cut_after=int(cut) if cut is not None else None, on_cut=conn.abort,
        )
        if outcome.exit_code is None:
            return resp
        for kind in ("stdout", "stderr"):
            if kind in streams:
                await streams[kind].close()
        status = execio.status_bytes(outcome.exit_code, command, protocol == "v4.channel.k8s.io")
        with contextlib.suppress(ConnectionError, OSError):
            if status:
                await streams["error"].write(status)
            await streams["error"].close()
            for s in streams.values():
                await s.close()
        await session.shutdown(grace=5.0)
    finally:
        if feeder is not None:
            feeder.cancel()
        reader.cancel()
        conn.close()
        if proc.returncode is None:
            execio.close_stdin(proc)
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(proc.wait()), 10.0)
            execio.kill(proc)
    return resp


async def _feed_stdin(stream: Stream, proc) -> None:
    try:
        while True:
            data = await stream.read()
            if not data:
                break
            if not await execio.feed_stdin(proc, data):
                # the process closed its stdin: keep draining so the connection does not stall
                continue
    finally:
        execio.close_stdin(proc)


async def portforward_spdy(request: web.Request, cluster, namespace: str, pod: str) -> web.StreamResponse:
    protocol = negotiate(request, (PORTFORWARD_VERSION,))
    cluster.kubelet.pod_ip(namespace, pod)  # 400 before the upgrade when the pod has no IP
    resp, conn = await rawconn.upgrade(request, _upgrade_headers(protocol))
    try:
        await portforward_session(conn, conn, cluster, namespace, pod)
    finally:
        conn.close()
    return resp


def _request_id(stream: Stream) -> str:
    """The kubelet's pairing key; clients too old to send requestID pair by stream ids."""
    rid = stream.header("requestid")
    if rid:
        return rid
    return str(stream.id - 2 if stream.header("streamtype") == "data" else stream.id)


async def portforward_session(source, sink, cluster, namespace: str, pod: str) -> None:
    """Serve one SPDY port-forward connection until the client closes it; any number of
    forwarded connections run at once, each on its own stream pair."""
    pending: dict[str, dict[str, Stream]] = {}

    def on_stream(stream: Stream):
        kind, port = stream.header("streamtype"), stream.header("port")
        if kind not in ("data", "error") or not port.isdigit():
            return stream.send_reset()
        pair = pending.setdefault(_request_id(stream), {})
        pair[kind] = stream
        if len(pair) == 2:
            del pending[_request_id(stream)]
            return _forward_pair(cluster, namespace, pod, pair["data"], pair["error"])
        return None

    session = Session(source, sink, on_stream)
    reader = asyncio.ensure_future(session.run())
    try:
        await session.start()
        await reader
    finally:
        reader.cancel()
        for t in list(session._tasks):
            t.cancel()


async def _forward_pair(cluster, namespace: str, pod: str, data: Stream, error: Stream) -> None:
    port = int(data.header("port"))
    try:
        ip = cluster.kubelet.pod_ip(namespace, pod)
        reader, writer = await forward.connect(ip, port)
    except (OSError, ApiError) as exc:
        message = exc.message if isinstance(exc, ApiError) else forward.describe_error(cluster, namespace, pod, port, locals().get("ip", ""), exc)
        with contextlib.suppress(ConnectionError, OSError):
            await error.write(message.encode())
        await error.close()
        await data.close()
        return
    try:
        await forward.pipe(reader, writer, data.read, data.write, data.close)
    except (ConnectionError, OSError):
        pass
    finally:
        await data.close()
        await error.close()

"""Sandbox streams against stock clients, in process: the stream handlers mounted on the real
paths of a small aiohttp server with a local-process kubelet (tests/test_sandbox_streams_harness.py). kubectl
1.29 (SPDY), 1.32 (WebSocket v5, SPDY tunnelled in WebSocket, and SPDY when its WebSocket paths
are switched off), the official Python client, and raw WebSocket/SPDY clients for wire details."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import aiohttp
import pytest

from test_sandbox_streams_harness import Server
from tripgen_sandbox.streams import spdy

KUBECTL = Path("/usr/lib/google-cloud-sdk/bin")
EXEC_CASES = {
    "1.29-spdy": ("1.29", {}, "SPDY/3.1"),
    "1.32-websocket": ("1.32", {}, "websocket"),
    "1.32-spdy-forced": ("1.32", {"KUBECTL_REMOTE_COMMAND_WEBSOCKETS": "false"}, "SPDY/3.1"),
}
PF_CASES = {
    "1.29-spdy": ("1.29", {}, ("SPDY/3.1", "portforward.k8s.io")),
    "1.32-spdy-over-websocket": ("1.32", {}, ("websocket", "SPDY/3.1+portforward.k8s.io")),
    "1.32-spdy-forced": ("1.32", {"KUBECTL_PORT_FORWARD_WEBSOCKETS": "false", "PORT_FORWARD_WEBSOCKETS": "false"}, ("SPDY/3.1", "portforward.k8s.io")),
}


def kubectl(version: str) -> str:
    path = KUBECTL / f"kubectl.{version}"
    if not path.exists():
        raise AssertionError(f"{path} is not installed")
    return str(path)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with Server(tmp_path_factory.mktemp("streams")) as s:
        yield s


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("case", list(EXEC_CASES))
def test_kubectl_exec_exit_code_and_binary_stdin_roundtrip(server, case):
    version, env, upgrade = EXEC_CASES[case]
    before = len(server.cluster.upgrades)
    r = subprocess.run([kubectl(version), "exec", "shell", "--", "sh", "-c", "echo out; echo err >&2; exit 3"],
                       capture_output=True, env=server.env(**env), timeout=60)
    assert r.returncode == 3, r.stderr
    assert r.stdout == b"out\n"
    assert r.stderr.startswith(b"err\n") and b"command terminated with exit code 3" in r.stderr
    data = os.urandom(20 * 2**20)
    r = subprocess.run([kubectl(version), "exec", "-i", "shell", "--", "cat"], input=data, capture_output=True, env=server.env(**env), timeout=120)
    assert r.returncode == 0, r.stderr
    assert hashlib.sha256(r.stdout).hexdigest() == hashlib.sha256(data).hexdigest()
    used = {u[1] for u in server.cluster.upgrades[before:]}
    assert used == {upgrade}, server.cluster.upgrades[before:]


def _echo_roundtrip(port: int, size: int) -> bool:
    data = os.urandom(size)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as c:
        def send():
            c.sendall(data)
            c.shutdown(socket.SHUT_WR)

        t = threading.Thread(target=send)
        t.start()
        got = bytearray()
        while chunk := c.recv(65536):
            got += chunk
        t.join()
    return bytes(got) == data


@pytest.mark.parametrize("case", list(PF_CASES))
def test_kubectl_port_forward_many_connections_at_once(server, case):
    version, env, (upgrade, protocol) = PF_CASES[case]
    echo, local = server.echo_server(), free_port()
    before = len(server.cluster.upgrades)
    pf = subprocess.Popen([kubectl(version), "port-forward", "pod/shell", f"{local}:{echo}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=server.env(**env))
    try:
        assert b"Forwarding from" in pf.stdout.readline()
        results: dict[int, bool] = {}
        threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, _echo_roundtrip(local, 2 * 2**20))) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(90)
        assert results == {i: True for i in range(6)}
        assert _echo_roundtrip(local, 10)  # the session still takes new connections
    finally:
        pf.terminate()
        _, err = pf.communicate(timeout=10)
    assert b"error" not in err.lower(), err
    assert {(u[1], u[2]) for u in server.cluster.upgrades[before:]} == {(upgrade, protocol)}


def test_port_forward_to_a_closed_port_reports_on_the_error_stream(server):
    closed, local = free_port(), free_port()
    pf = subprocess.Popen([kubectl("1.29"), "port-forward", "pod/shell", f"{local}:{closed}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=server.env())
    try:
        assert b"Forwarding from" in pf.stdout.readline()
        with socket.create_connection(("127.0.0.1", local), timeout=10) as c:
            assert c.recv(10) == b""
        pf.terminate()
        _, err = pf.communicate(timeout=10)
    finally:
        if pf.poll() is None:
            pf.kill()
    assert f"error forwarding port {closed} to pod shell".encode() in err, err


def _client(server):
    from kubernetes import client, config

    return client.CoreV1Api(config.new_client_from_config(str(server.kubeconfig)))


def test_python_client_exec_v5_closes_stdin_and_reports_exit_code(server):
    from kubernetes.stream import stream

    api = _client(server)
    ws = stream(api.connect_get_namespaced_pod_exec, "shell", "ns", command=["sh", "-c", "cat; exit 5"],
                stdin=True, stdout=True, stderr=True, tty=False, _preload_content=False, binary=True)
    assert ws.subprotocol == "v5.channel.k8s.io"
    payload = bytes(range(256)) * 1000
    ws.write_stdin(payload)
    ws.close_channel(0)
    out = b""
    while ws.is_open():
        ws.update(timeout=5)
        out += ws.read_stdout() or b""
    out += ws.read_stdout() or b""
    assert out == payload
    assert ws.returncode == 5
    ws.close()


def test_python_client_exec_stdin_as_str_arrives(server):
    """The official client sends a str as a TEXT frame holding the raw channel byte (v4/v5 are
    not base64 protocols): it must reach the process, as on kube-apiserver."""
    from kubernetes.stream import stream

    ws = stream(_client(server).connect_get_namespaced_pod_exec, "shell", "ns", command=["head", "-c", "15"],
                stdin=True, stdout=True, stderr=True, tty=False, _preload_content=False)
    assert ws.subprotocol in ("v4.channel.k8s.io", "v5.channel.k8s.io")
    ws.write_stdin("hello from str\n")
    out = ""
    deadline = time.monotonic() + 20
    while ws.is_open() and time.monotonic() < deadline:  # lost stdin: head never exits
        ws.update(timeout=1)
        out += ws.read_stdout(timeout=0) or ""
    out += ws.read_stdout(timeout=0) or ""
    assert out == "hello from str\n" and ws.returncode == 0
    ws.close()


async def _ws_stdin(url: str, protocol: str, frame) -> bytes:
    try:
        return await asyncio.wait_for(_ws_stdin_once(url, protocol, frame), 20)
    except asyncio.TimeoutError:
        return b"<stdin lost: the command never ended>"


async def _ws_stdin_once(url: str, protocol: str, frame) -> bytes:
    query = [("command", "head"), ("command", "-c"), ("command", "5"), ("stdin", "true"), ("stdout", "true")]
    out = b""
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"{url}/api/v1/namespaces/ns/pods/shell/exec", params=query, protocols=(protocol,)) as ws:
            await (ws.send_str(frame) if isinstance(frame, str) else ws.send_bytes(frame))
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.BINARY and msg.data[:1] == b"\x01":
                    out += msg.data[1:]
                elif msg.type == aiohttp.WSMsgType.TEXT and msg.data[:1] == "1":
                    import base64

                    out += base64.b64decode(msg.data[1:])
    return out


@pytest.mark.parametrize("protocol,frame", [
    ("v4.channel.k8s.io", "\x00abcde"),
    ("v5.channel.k8s.io", "\x00abcde"),
    ("v5.channel.k8s.io", b"\x00abcde"),
    ("v4.base64.channel.k8s.io", "0YWJjZGU="),
])
def test_websocket_frames_decoded_by_subprotocol(server, protocol, frame):
    assert server.run(_ws_stdin(server.url, protocol, frame)) == b"abcde"


def test_python_client_port_forward(server):
    from kubernetes.stream import portforward

    echo = server.echo_server()
    pf = portforward(_client(server).connect_get_namespaced_pod_portforward, "shell", "ns", ports=str(echo))
    s = pf.socket(echo)
    s.sendall(b"ping over websocket")
    assert s.recv(100) == b"ping over websocket"
    s.close()
    assert pf.error(echo) is None


async def _ws_exec(url: str, protocol: str, command: list[str]) -> dict[int, bytes]:
    query = [("command", c) for c in command] + [("stdout", "true"), ("stderr", "true")]
    out: dict[int, bytes] = {}
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"{url}/api/v1/namespaces/ns/pods/shell/exec", params=query, protocols=(protocol,)) as ws:
            assert ws.protocol == protocol
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.BINARY:
                    out[msg.data[0]] = out.get(msg.data[0], b"") + msg.data[1:]
                elif msg.type == aiohttp.WSMsgType.TEXT:
                    import base64

                    ch = ord(msg.data[0]) - ord("0")
                    out[ch] = out.get(ch, b"") + base64.b64decode(msg.data[1:])
    return out


@pytest.mark.parametrize("protocol", ["v4.channel.k8s.io", "v5.channel.k8s.io", "v4.base64.channel.k8s.io"])
def test_websocket_exit_status_is_the_kubelets(server, protocol):
    out = server.run(_ws_exec(server.url, protocol, ["sh", "-c", "printf out; printf err >&2; exit 7"]))
    assert out[1] == b"out" and out[2] == b"err"
    assert json.loads(out[3]) == {
        "metadata": {},
        "status": "Failure",
        "message": "command terminated with non-zero exit code: error executing command [sh -c printf out; printf err >&2; exit 7], exit code 7",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": "7"}]},
    }
    ok = server.run(_ws_exec(server.url, protocol, ["true"]))
    assert json.loads(ok[3]) == {"metadata": {}, "status": "Success"}


def test_errors_before_the_upgrade_are_status_bodies(server):
    async def go():
        async with aiohttp.ClientSession() as session:
            base = f"{server.url}/api/v1/namespaces/ns/pods"
            plain = await session.post(f"{base}/shell/exec", params={"command": "true"})
            spdy_stopped = await session.post(f"{base}/stopped/exec", params={"command": "true"}, headers={
                "Connection": "Upgrade", "Upgrade": "SPDY/3.1", "X-Stream-Protocol-Version": "v4.channel.k8s.io"})
            spdy_noversion = await session.post(f"{base}/shell/exec", params={"command": "true"}, headers={"Connection": "Upgrade", "Upgrade": "SPDY/3.1"})
            spdy_badversion = await session.post(f"{base}/shell/portforward", headers={
                "Connection": "Upgrade", "Upgrade": "SPDY/3.1", "X-Stream-Protocol-Version": "v9.nothing"})
            return [(r.status, await r.json()) for r in (plain, spdy_stopped, spdy_noversion, spdy_badversion)]

    (c1, b1), (c2, b2), (c3, _), (c4, b4) = server.run(go())
    assert (c1, b1["message"]) == (400, "Upgrade request required")
    assert c2 == 400 and b2["kind"] == "Status" and "container not found" in b2["message"]
    assert c3 == 400
    assert c4 == 403 and "unable to negotiate protocol" in b4["message"]


class RawSpdyClient:
    """A SPDY client that does flow control by the book (unlike Go's spdystream): it advertises a
    small window and re-opens it only as the test consumes data."""

    def __init__(self, reader, writer, window: int):
        self.reader, self.writer, self.window = reader, writer, window
        self.codec = spdy.HeaderCodec()
        self.next_id = 1
        self.received: dict[int, int] = {}
        self.acked: dict[int, int] = {}
        self.max_outstanding = 0
        self.fin: set[int] = set()
        self.data: dict[int, bytearray] = {}

    def send(self, frame: bytes) -> None:
        self.writer.write(frame)

    def open(self, headers: dict[str, str], fin: bool = False) -> int:
        sid, self.next_id = self.next_id, self.next_id + 2
        block = self.codec._out.compress(spdy.encode_header_block({k: [v] for k, v in headers.items()})) + self.codec._out.flush(spdy.zlib.Z_SYNC_FLUSH)
        self.send(spdy.control_frame(spdy.SYN_STREAM, spdy.FLAG_FIN if fin else 0, struct.pack(">IIH", sid, 0, 0) + block))
        self.received[sid] = self.acked[sid] = 0
        self.data[sid] = bytearray()
        return sid

    async def frame(self):
        head = await self.reader.readexactly(8)
        first, second = struct.unpack(">II", head)
        payload = await self.reader.readexactly(second & 0xFFFFFF)
        return first, second >> 24, payload

    async def pump_until_fin(self, sids: set[int], ack: bool = True) -> None:
        while not sids <= self.fin:
            first, flags, payload = await self.frame()
            if first & 0x80000000:
                ftype = first & 0xFFFF
                if ftype in (spdy.SYN_REPLY, spdy.HEADERS):
                    self.codec.decompress(payload[4:])
                continue
            sid = first & 0x7FFFFFFF
            self.received[sid] = self.received.get(sid, 0) + len(payload)
            self.data.setdefault(sid, bytearray()).extend(payload)
            self.max_outstanding = max(self.max_outstanding, self.received[sid] - self.acked.get(sid, 0))
            if flags & spdy.FLAG_FIN:
                self.fin.add(sid)
            if ack and payload:
                self.acked[sid] = self.acked.get(sid, 0) + len(payload)
                self.send(spdy.control_frame(spdy.WINDOW_UPDATE, 0, struct.pack(">II", sid, len(payload))))
                self.send(spdy.control_frame(spdy.WINDOW_UPDATE, 0, struct.pack(">II", 0, len(payload))))


async def _spdy_exec_with_flow_control(url: str, size: int, window: int):
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port), limit=2**20)
    writer.write(
        f"POST /api/v1/namespaces/ns/pods/shell/exec?command=sh&command=-c&command=head+-c+{size}+/dev/zero&stdout=true&stderr=true HTTP/1.1\r\n"
        f"Host: {host}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\nContent-Length: 0\r\n\r\n".encode()
    )
    status = await reader.readuntil(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 101"), status
    assert b"x-stream-protocol-version: v4.channel.k8s.io" in status.lower()
    c = RawSpdyClient(reader, writer, window)
    c.send(spdy.control_frame(spdy.SETTINGS, 0, struct.pack(">III", 1, spdy.SETTINGS_INITIAL_WINDOW_SIZE, window)))
    err = c.open({"streamtype": "error"})
    out = c.open({"streamtype": "stdout"})
    c.open({"streamtype": "stderr"})
    # withhold WINDOW_UPDATEs: the server must stop at the window (nothing more within a second)
    while True:
        try:
            first, flags, payload = await asyncio.wait_for(c.frame(), 1.0)
        except asyncio.TimeoutError:
            break
        if first & 0x80000000:
            if first & 0xFFFF in (spdy.SYN_REPLY, spdy.HEADERS):
                c.codec.decompress(payload[4:])
            continue
        sid = first & 0x7FFFFFFF
        c.received[sid] += len(payload)
        c.data[sid].extend(payload)
        assert not flags & spdy.FLAG_FIN or sid != out, "the server finished without waiting for window updates"
    held = c.received[out]
    assert 0 < held <= window
    # now consume and re-open the window as we go
    c.acked[out] = 0
    c.send(spdy.control_frame(spdy.WINDOW_UPDATE, 0, struct.pack(">II", out, held)))
    c.send(spdy.control_frame(spdy.WINDOW_UPDATE, 0, struct.pack(">II", 0, held)))
    c.acked[out] = held
    await c.pump_until_fin({out, err})
    writer.close()
    return c, out, err


def test_spdy_honours_the_flow_control_window_of_a_peer_that_uses_it(server):
    size, window = 8 * 2**20, 32 * 1024
    c, out, err = server.run(_spdy_exec_with_flow_control(server.url, size, window))
    assert c.received[out] == size
    assert c.max_outstanding <= window
    assert json.loads(c.data[err]) == {"metadata": {}, "status": "Success"}


def test_spdy_header_codec_roundtrip_keeps_one_context_per_direction():
    a, b = spdy.HeaderCodec(), spdy.HeaderCodec()
    for i in range(3):  # later blocks only decode with the earlier ones' context
        h = {"streamtype": ["data"], "port": [str(5432 + i)], "requestid": [str(i)]}
        assert b._in.decompress(a._out.compress(spdy.encode_header_block(h)) + a._out.flush(spdy.zlib.Z_SYNC_FLUSH)) == spdy.encode_header_block(h)
    assert spdy.decode_header_block(spdy.encode_header_block({"x": ["1", "2"]})) == {"x": ["1", "2"]}

"""Streams against the running sandbox (TLS, the real kubelet and images): stock kubectl 1.29
(SPDY) and 1.32 (WebSocket, and SPDY with its WebSocket paths switched off) exec and
port-forward to real busybox, PostgreSQL and Redis pods."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import threading
import time

import psutil
import pytest

from test_sandbox_cluster import postgres_statefulset, redis_statefulset

SPDY_ONLY = {"KUBECTL_REMOTE_COMMAND_WEBSOCKETS": "false", "KUBECTL_PORT_FORWARD_WEBSOCKETS": "false", "PORT_FORWARD_WEBSOCKETS": "false"}
CLIENTS = {"1.29": ("1.29", {}), "1.32": ("1.32", {}), "1.32-spdy-forced": ("1.32", SPDY_ONLY)}
BUSYBOX = """
apiVersion: v1
kind: Pod
metadata: {{name: shell, namespace: {ns}}}
spec:
  containers: [{{name: c, image: "busybox:latest", command: [sleep, "3600"]}}]
"""


@pytest.fixture(scope="module")
def shell_ns(sandbox):
    import uuid

    ns = f"streams-{uuid.uuid4().hex[:6]}"
    sandbox.kubectl("create", "namespace", ns, check=True)
    sandbox.kubectl("apply", "-f", "-", input=BUSYBOX.format(ns=ns), check=True)
    sandbox.kubectl("wait", "--for=condition=Ready", "pod/shell", "-n", ns, "--timeout=60s", check=True, timeout=90)
    yield ns
    sandbox.kubectl("delete", "namespace", ns, "--wait=false")


@pytest.mark.parametrize("client", list(CLIENTS))
def test_kubectl_exec_exit_code_and_20mb_roundtrip(sandbox, shell_ns, client):
    version, env = CLIENTS[client]
    r = sandbox.kubectl("exec", "shell", "-n", shell_ns, "--", "sh", "-c", "echo out; echo err >&2; exit 3", version=version, env=env)
    assert r.returncode == 3, r.stderr
    assert r.stdout == b"out\n" and r.stderr.startswith(b"err\n")
    data = os.urandom(20 * 2**20)
    r = sandbox.kubectl("exec", "-i", "shell", "-n", shell_ns, "--", "cat", input=data, version=version, env=env, timeout=180)
    assert r.returncode == 0, r.stderr
    assert hashlib.sha256(r.stdout).hexdigest() == hashlib.sha256(data).hexdigest()


def test_spdy_exec_streams_200mb_with_bounded_server_memory(sandbox, shell_ns):
    daemon = psutil.Process(int((sandbox.state_dir / "daemon.pid").read_text()))
    base = daemon.memory_info().rss
    peak = [base]
    stop = threading.Event()

    def sample():
        while not stop.wait(0.05):
            peak.append(daemon.memory_info().rss)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        proc = subprocess.Popen([sandbox.kubectl_path("1.29"), "exec", "shell", "-n", shell_ns, "--", "head", "-c", str(200 * 2**20), "/dev/zero"],
                                stdout=subprocess.PIPE, env=sandbox.env())
        digest, total = hashlib.sha256(), 0
        while chunk := proc.stdout.read(2**20):
            digest.update(chunk)
            total += len(chunk)
        assert proc.wait(120) == 0
    finally:
        stop.set()
        sampler.join()
    assert total == 200 * 2**20
    assert digest.hexdigest() == hashlib.sha256(bytes(200 * 2**20)).hexdigest()
    growth = max(peak) - base
    assert growth < 100 * 2**20, f"API server RSS grew by {growth / 2**20:.0f} MiB while streaming 200 MiB over SPDY"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PortForward:
    def __init__(self, sandbox, ns, target, remote, version, env):
        self.local = _free_port()
        self.proc = subprocess.Popen([sandbox.kubectl_path(version), "port-forward", "-n", ns, target, f"{self.local}:{remote}"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=sandbox.env(**env))

    def __enter__(self):
        line = self.proc.stdout.readline()
        assert b"Forwarding from" in line, (line, self.proc.stderr.read() if self.proc.poll() is not None else b"")
        return self.local

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.communicate(timeout=10)


@pytest.fixture(scope="module")
def dbs(sandbox):
    import uuid

    ns = f"streams-db-{uuid.uuid4().hex[:6]}"
    sandbox.kubectl("create", "namespace", ns, check=True)
    sandbox.kubectl("apply", "-f", "-", input=postgres_statefulset(ns) + "\n---\n" + redis_statefulset(ns), check=True)
    for sts in ("postgresql", "redis"):
        sandbox.kubectl("rollout", "status", f"statefulset/{sts}", "-n", ns, "--timeout=120s", check=True, timeout=150)
    yield ns
    sandbox.kubectl("delete", "namespace", ns, "--wait=false")


@pytest.mark.parametrize("client", list(CLIENTS))
def test_kubectl_port_forward_psql_sessions_and_redis(sandbox, dbs, client):
    from test_sandbox_cluster import PG_SECRET

    version, env = CLIENTS[client]
    with PortForward(sandbox, dbs, "pod/postgresql-0", 5432, version, env) as port:
        results: dict[int, subprocess.CompletedProcess] = {}

        def psql(i: int) -> None:
            results[i] = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", "tripgen", "-tAc", f"SELECT {i} + 40, pg_sleep(0.3)"],
                                        capture_output=True, env=dict(os.environ, PGPASSWORD=PG_SECRET, PGCONNECT_TIMEOUT="20"), timeout=60)

        # the image's entrypoint may still be restarting its init server (socket-only) right after
        # Ready: wait until one session gets through before starting five at once
        deadline = time.monotonic() + 60
        while True:
            psql(0)
            if results[0].returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        threads = [threading.Thread(target=psql, args=(i,)) for i in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(90)
        assert {i: (r.returncode, r.stdout.decode().split("|")[0]) for i, r in results.items()} == {i: (0, str(i + 40)) for i in range(5)}, [r.stderr for r in results.values()]
    with PortForward(sandbox, dbs, "pod/redis-0", 6379, version, env) as port:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
            got = b""
            while not got.endswith(b"hello\r\n"):
                chunk = s.recv(100)
                assert chunk, got
                got += chunk
            assert got == b"+OK\r\n$5\r\nhello\r\n"

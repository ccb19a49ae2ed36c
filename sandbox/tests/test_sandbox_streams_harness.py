"""An in-process API server for the stream tests: the sandbox's stream handlers mounted on the
real paths, a GET for the pod (all kubectl needs before exec/port-forward), and a fake kubelet
that runs commands locally and reports 127.0.0.1 as the pod IP. Runs in a thread with its own
event loop so blocking clients (kubectl, the Python client) can drive it from the test."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from tripgen_sandbox.apierrors import ApiError


class FakeKubelet:
    def __init__(self, running: set[str]):
        self.running = running
        self.procs: list[asyncio.subprocess.Process] = []

    async def exec(self, namespace, pod, container, command, tty=False):
        if pod not in self.running:
            raise ApiError(400, f'unable to upgrade connection: container not found ("{container or "c"}")')
        proc = await asyncio.create_subprocess_exec(
            *command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT if tty else asyncio.subprocess.PIPE,
        )
        self.procs.append(proc)
        return proc

    def pod_ip(self, namespace, pod):
        if pod not in self.running:
            raise ApiError(400, f"pod {pod} does not have a host assigned")
        return "127.0.0.1"


@dataclass
class FakeCluster:
    kubelet: FakeKubelet
    faults: dict = field(default_factory=dict)
    store: object = None
    upgrades: list = field(default_factory=list)  # (subresource, Upgrade header, offered protocols)


def _pod(namespace: str, name: str) -> dict:
    return {
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {"name": name, "namespace": namespace, "uid": "0000-1111"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
        "status": {"phase": "Running", "podIP": "127.0.0.1", "containerStatuses": [{"name": "c", "ready": True, "state": {"running": {}}}]},
    }


def make_app(cluster: FakeCluster) -> web.Application:
    from tripgen_sandbox.streams import handlers

    def status(exc: ApiError) -> web.Response:
        return web.json_response(exc.status(), status=exc.code)

    async def stream(request: web.Request) -> web.StreamResponse:
        ns, name, sub = request.match_info["ns"], request.match_info["name"], request.match_info["sub"]
        offered = request.headers.get("Sec-WebSocket-Protocol") or ",".join(request.headers.getall("X-Stream-Protocol-Version", []))
        cluster.upgrades.append((sub, request.headers.get("Upgrade", ""), offered))
        try:
            if sub == "portforward":
                return await handlers.portforward_handler(request, cluster, ns, name)
            return await handlers.exec_handler(request, cluster, ns, name)
        except ApiError as exc:
            return status(exc)

    async def get_pod(request: web.Request) -> web.Response:
        return web.json_response(_pod(request.match_info["ns"], request.match_info["name"]))

    async def discovery(request: web.Request) -> web.Response:
        path = request.path.rstrip("/")
        if path == "/version":
            return web.json_response({"major": "1", "minor": "29", "gitVersion": "v1.29.0"})
        if path == "/api":
            return web.json_response({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})
        if path == "/apis":
            return web.json_response({"kind": "APIGroupList", "apiVersion": "v1", "groups": []})
        return web.json_response({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "v1", "resources": [
            {"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod", "verbs": ["get", "list"], "shortNames": ["po"]},
            {"name": "pods/exec", "singularName": "", "namespaced": True, "kind": "PodExecOptions", "verbs": ["create", "get"]},
            {"name": "pods/portforward", "singularName": "", "namespaced": True, "kind": "PodPortForwardOptions", "verbs": ["create", "get"]},
        ]})

    app = web.Application()
    for path in ("/version", "/api", "/apis", "/api/v1"):
        app.router.add_get(path, discovery)
    app.router.add_route("*", "/api/v1/namespaces/{ns}/pods/{name}/{sub:exec|attach|portforward}", stream)
    app.router.add_get("/api/v1/namespaces/{ns}/pods/{name}", get_pod)
    return app


class Server:
    """`with Server(tmp_path) as s:` -> s.url, s.kubeconfig, s.cluster, s.loop."""

    def __init__(self, directory: Path, running: set[str] | None = None):
        self.directory = Path(directory)
        self.cluster = FakeCluster(FakeKubelet(running if running is not None else {"shell"}))
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.url = ""
        self.kubeconfig = self.directory / "kubeconfig"

    def run(self, coro, timeout: float = 120):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def __enter__(self) -> "Server":
        self._thread.start()

        async def start():
            self._runner = web.AppRunner(make_app(self.cluster), handler_cancellation=False)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            return site._server.sockets[0].getsockname()[1]

        port = self.run(start())
        self.url = f"http://127.0.0.1:{port}"
        self.kubeconfig.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "t",
            "clusters": [{"name": "t", "cluster": {"server": self.url}}],
            "users": [{"name": "t", "user": {"token": "x"}}],
            "contexts": [{"name": "t", "context": {"cluster": "t", "user": "t", "namespace": "ns"}}],
        }))
        return self

    def __exit__(self, *exc) -> None:
        async def stop():
            for p in self.cluster.kubelet.procs:
                if p.returncode is None:
                    p.kill()
            await self._runner.cleanup()

        self.run(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    def echo_server(self) -> int:
        """A TCP server in the pod: echoes what it gets, half-closes after the client did."""

        async def handle(reader, writer):
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
                writer.write_eof()
            except ConnectionError:
                pass
            finally:
                writer.close()

        async def start():
            server = await asyncio.start_server(handle, "127.0.0.1", 0)
            self._echo = server
            return server.sockets[0].getsockname()[1]

        return self.run(start())

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ, KUBECONFIG=str(self.kubeconfig))
        env.update(extra)
        return env

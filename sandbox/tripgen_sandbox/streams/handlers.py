"""Routing of the pod stream subresources to the WebSocket or SPDY implementation."""
from __future__ import annotations

from aiohttp import web

from tripgen_sandbox.apierrors import ApiError

__all__ = ["exec_handler", "portforward_handler"]


def _upgrade(request: web.Request) -> str:
    connection = request.headers.get("Connection", "").lower()
    upgrade = request.headers.get("Upgrade", "").lower()
    if "upgrade" in connection and upgrade == "websocket":
        return "websocket"
    if "upgrade" in connection and "spdy/3.1" in upgrade:
        return "spdy"
    raise ApiError(400, "Upgrade request required")


async def exec_handler(request: web.Request, cluster, namespace: str, pod: str) -> web.StreamResponse:
    if request.path.rstrip("/").endswith("/attach"):
        raise ApiError(400, "attach is not supported by the sandbox: use exec")
    command = request.query.getall("command", [])
    if not command:
        raise ApiError(400, "you must specify at least 1 command")
    if _upgrade(request) == "websocket":
        from tripgen_sandbox.streams.ws import exec_ws

        return await exec_ws(request, cluster, namespace, pod, command)
    from tripgen_sandbox.streams.spdyserve import exec_spdy

    return await exec_spdy(request, cluster, namespace, pod, command)


async def portforward_handler(request: web.Request, cluster, namespace: str, pod: str) -> web.StreamResponse:
    if _upgrade(request) == "websocket":
        from tripgen_sandbox.streams.ws import portforward_ws

        return await portforward_ws(request, cluster, namespace, pod)
    from tripgen_sandbox.streams.spdyserve import portforward_spdy

    return await portforward_spdy(request, cluster, namespace, pod)

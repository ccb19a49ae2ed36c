"""The proxy subresources: services/<name>[:port]/proxy/..., pods/<name>[:port]/proxy/... (HTTP
to the app, as `kubectl proxy` users and doctor's health checks use them) and
nodes/<name>/proxy/stats/summary (the kubelet's stats summary)."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from tripgen_sandbox.apierrors import ApiError
from tripgen_sandbox.apiserver.encode import respond


async def serve_proxy(request: web.Request, cluster, r) -> web.StreamResponse:
    t = r.type
    if t.key == "nodes":
        if r.rest.startswith("stats/summary"):
            kubelet = cluster.kubelet
            if kubelet is None or not hasattr(kubelet, "stats_summary"):
                raise ApiError(503, "stats summary not available")
            return respond(kubelet.stats_summary(r.name))
        raise ApiError(404, "the server could not find the requested resource")
    name, port = r.name, None
    parts = name.split(":")
    if len(parts) == 3:
        _, name, port = parts
    elif len(parts) == 2:
        name, port = parts
    if t.key == "services":
        svc = cluster.store.require("services", r.namespace, name)
        ports = svc.get("spec", {}).get("ports") or []
        chosen = next((p for p in ports if port in (None, str(p.get("port")), p.get("name"))), None)
        if chosen is None:
            raise ApiError(503, f'no endpoints available for service "{name}"', "ServiceUnavailable")
        host = svc.get("spec", {}).get("clusterIP")
        target = chosen.get("port")
    else:
        pod = cluster.store.require("pods", r.namespace, name)
        host = pod.get("status", {}).get("podIP")
        target = port or next((p.get("containerPort") for c in pod["spec"]["containers"] for p in c.get("ports") or []), 80)
    if not host or host == "None":
        raise ApiError(503, f'no endpoints available for service "{name}"', "ServiceUnavailable")
    url = f"http://{host}:{target}/{r.rest}"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            async with session.request(request.method, url, params=request.query, data=await request.read()) as up:
                body = await up.read()
                return web.Response(body=body, status=up.status, content_type=up.content_type)
    except (aiohttp.ClientError, OSError) as exc:
        raise ApiError(503, f"error trying to reach service: {exc}", "ServiceUnavailable")

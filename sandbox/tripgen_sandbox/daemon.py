"""The sandbox's one background process: API server, controllers, kubelet and service proxy on
one asyncio loop. Started by `tripgenctl sandbox start` (control.py); SIGTERM stops every process
it started and flushes the store, so objects and PVC data survive a stop/start."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import ssl
import sys
from pathlib import Path

from aiohttp import web

from tripgen_sandbox.apiserver.app import ApiServer
from tripgen_sandbox.apiserver.auth import Authenticator, load_or_create_secret
from tripgen_sandbox.cluster import Cluster
from tripgen_sandbox.config import SandboxConfig
from tripgen_sandbox.pki import ensure_pki, write_kubeconfig
from tripgen_sandbox.store import Store

log = logging.getLogger("tripgen_sandbox")


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


async def run(config: SandboxConfig) -> None:
    state = config.state_dir
    from tripgen_sandbox.private import private_dir

    private_dir(state)
    private_dir(config.runtime_dir)  # PostgreSQL's socket (trusted, like the image's local connections) lives here
    pki = ensure_pki(state / "pki")
    token = load_or_create_secret(state / "pki" / "admin.token")
    signing_key = load_or_create_secret(state / "pki" / "sa.key").encode()
    if not config.api_port:
        config.api_port = free_port(config.api_host)
    config.save()

    store = Store(state / "objects.json")
    from tripgen_sandbox.apiserver import crd

    crd.install(store)  # stored CRDs served before any controller (the GC) looks at their objects
    cluster = Cluster(config=config, store=store)
    auth = Authenticator(store, token, signing_key)
    cluster.auth = auth

    tasks: list[asyncio.Task] = []
    from tripgen_sandbox import controllers

    controllers.ensure_bootstrap(cluster)
    if config.system_pods:
        from tripgen_sandbox.controllers.system import ensure_system_workloads

        ensure_system_workloads(cluster)
    tasks += controllers.start_all(cluster)
    from tripgen_sandbox.kubelet import Kubelet
    from tripgen_sandbox.netproxy import ServiceProxy

    cluster.netproxy = ServiceProxy(cluster)
    await cluster.netproxy.start()
    cluster.kubelet = Kubelet(cluster)
    await cluster.kubelet.start()

    api = ApiServer(cluster, auth)
    server_url = f"https://{config.api_host}:{config.api_port}"
    api.server_address = f"{config.api_host}:{config.api_port}"
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(pki["server.crt"]), str(pki["server.key"]))
    ctx.load_verify_locations(str(pki["ca.crt"]))
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.set_alpn_protocols(["http/1.1"])
    runner = web.AppRunner(api.make_app(), access_log=None, handle_signals=False, shutdown_timeout=2)
    await runner.setup()
    site = web.TCPSite(runner, config.api_host, config.api_port, ssl_context=ctx, reuse_address=True, backlog=512)
    await site.start()
    write_kubeconfig(state / "kubeconfig", server_url, pki, token)
    (state / "daemon.pid").write_text(str(os.getpid()))
    log.info("sandbox API server listening on %s", server_url)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping")
    try:
        await runner.cleanup()
    except Exception:  # noqa: BLE001
        log.exception("api shutdown")
    if cluster.kubelet is not None:
        try:
            await cluster.kubelet.stop()
        except Exception:  # noqa: BLE001
            log.exception("kubelet stop")
    if cluster.netproxy is not None:
        try:
            await cluster.netproxy.stop()
        except Exception:  # noqa: BLE001
            log.exception("proxy stop")
    for t in tasks:
        t.cancel()
    store.save()
    (state / "daemon.pid").unlink(missing_ok=True)
    log.info("stopped")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="tripgenctl-sandbox-daemon")
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--log-level", default=os.environ.get("TRIPGEN_SANDBOX_LOG", "INFO"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    config = SandboxConfig.load(Path(args.state_dir).resolve())
    os.environ["TRIPGEN_SANDBOX_ID"] = config.short_id
    asyncio.run(run(config))


if __name__ == "__main__":
    main()

"""Run the fakes: ARM + managed-identity token endpoint on one HTTPS port, the Service Bus
namespace on another (it is a different host in Azure). `FakeAzure.start()` serves them from a
background thread; `env()` is the environment a client process needs to use them with the
production code path (credential -> SDK client -> HTTPS)."""

from __future__ import annotations

import asyncio
import base64
import secrets
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from aiohttp import web

from tripgen_sandbox.azurefakes.arm import FakeArm, FakeCluster
from tripgen_sandbox.azurefakes.servicebus import FakeQueue, FakeServiceBus
from tripgen_sandbox.azurefakes.tls import ensure_certs
from tripgen_sandbox.azurefakes.tokens import TokenIssuer

# SPEC (revision 001): queues of sb-tripgen-dev; Basic tier does not report max message size
SPEC_QUEUES = (
    ("ai-schedule-generation", 256),
    ("location-search", 128),
    ("notification", 128),
)


@dataclass
class FakeAzureConfig:
    state_dir: Path
    subscription: str = "00000000-0000-0000-0000-0000000000aa"
    resource_group: str = "rg-tripgen-dev"
    cluster_name: str = "aks-tripgen-dev"
    servicebus_namespace: str = "sb-tripgen-dev"
    key_name: str = "RootManageSharedAccessKey"
    key: str = field(default_factory=lambda: base64.b64encode(secrets.token_bytes(32)).decode())
    duration: float = 2.0  # seconds a stop/start takes at least
    retry_after: float = 1.0  # Retry-After on 202s and in-progress polls
    queues: tuple[tuple[str, int], ...] = SPEC_QUEUES
    kubeconfig: Callable[[], bytes] | bytes | None = None
    on_stop: Optional[Callable[[], None]] = None
    on_start: Optional[Callable[[], None]] = None
    on_move: Optional[Callable[[], None]] = None  # a start that moves the API server runs it first (FakeCluster.move_address_on_start)
    host: str = "127.0.0.1"
    arm_port: int = 0
    servicebus_port: int = 0


class FakeAzure:
    def __init__(self, config: FakeAzureConfig):
        self.config = config
        self.certs = ensure_certs(config.state_dir / "azure-pki")
        self.identity_header = secrets.token_hex(16)
        self.issuer = TokenIssuer()
        self.arm = FakeArm(self.issuer, self.identity_header, retry_after=config.retry_after)
        self.cluster = self.arm.add_cluster(FakeCluster(
            subscription=config.subscription, resource_group=config.resource_group, name=config.cluster_name,
            kubeconfig=config.kubeconfig, on_stop=config.on_stop, on_start=config.on_start, on_move=config.on_move,
            duration=config.duration,
        ))
        self.servicebus = FakeServiceBus(config.servicebus_namespace, {config.key_name: config.key})
        for name, size in config.queues:
            self.servicebus.add_queue(FakeQueue(name, max_size_mb=size))
        self.arm_url = ""
        self.servicebus_host = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runners: list[web.AppRunner] = []

    # -- what clients need -----------------------------------------------------------------
    def env(self) -> dict[str, str]:
        """Environment for a tripgenctl process: azure-identity's App Service managed-identity
        variables, the CA through requests' REQUESTS_CA_BUNDLE, the ARM endpoint override and
        the subscription."""
        return {
            "IDENTITY_ENDPOINT": f"{self.arm_url}/msi/token",
            "IDENTITY_HEADER": self.identity_header,
            "REQUESTS_CA_BUNDLE": str(self.certs.ca),
            "TRIPGENCTL_ARM_ENDPOINT": self.arm_url,
            "AZURE_SUBSCRIPTION_ID": self.config.subscription,
        }

    def connection_string(self, key: str | None = None, key_name: str | None = None) -> str:
        return (f"Endpoint=sb://{self.servicebus_host}/;SharedAccessKeyName={key_name or self.config.key_name};"
                f"SharedAccessKey={key if key is not None else self.config.key}")

    # -- lifecycle -------------------------------------------------------------------------
    def _ssl(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(str(self.certs.cert), str(self.certs.key))
        return ctx

    async def serve(self) -> None:
        """Start both sites on the running loop (for a process that owns its loop)."""
        arm_app = web.Application()
        arm_app.add_routes(self.arm.routes())
        sb_app = web.Application()
        sb_app.add_routes(self.servicebus.routes())
        ctx = self._ssl()
        for app, port, kind in ((arm_app, self.config.arm_port, "arm"), (sb_app, self.config.servicebus_port, "sb")):
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, self.config.host, port, ssl_context=ctx, reuse_address=True)
            await site.start()
            self._runners.append(runner)
            bound = runner.addresses[0][1]
            if kind == "arm":
                self.arm_url = f"https://{self.config.host}:{bound}"
                self.arm.base_url = self.arm_url
            else:
                self.servicebus_host = f"{self.config.host}:{bound}"
                self.servicebus.base_url = f"https://{self.servicebus_host}"

    async def shutdown(self) -> None:
        for runner in self._runners:
            await runner.cleanup()
        self._runners.clear()

    def start(self) -> "FakeAzure":
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            try:
                loop.run_until_complete(self.serve())
            except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:  # operations still running when the fakes stop
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(self.shutdown())
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-azure", daemon=True)
        self._thread.start()
        ready.wait(30)
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = None

    def call(self, fn: Callable[[], object]) -> object:
        """Run fn on the fakes' loop (to change state safely from a test thread)."""
        assert self._loop is not None
        fut = asyncio.run_coroutine_threadsafe(_as_coro(fn), self._loop)
        return fut.result(10)

    def __enter__(self) -> "FakeAzure":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


async def _as_coro(fn: Callable[[], object]) -> object:
    return fn()

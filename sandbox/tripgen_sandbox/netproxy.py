"""The sandbox's kube-proxy: gives Services a ClusterIP (127.2.X.Y), listens on clusterIP:port
for each service port and forwards TCP to a Ready endpoint pod. Outgoing connections use the
source address 127.3.0.254, so PostgreSQL tells them from a port-forward (127.0.0.1)."""

from __future__ import annotations

import asyncio
import itertools
import logging

from tripgen_sandbox.kubelet.addresses import start_index
from tripgen_sandbox.kubelet.probes import resolve_port

log = logging.getLogger(__name__)

SOURCE_ADDRESS = "127.3.0.254"
BUFFER = 65536  # bytes in flight per direction: reads wait for the writer to drain
ALLOCATING_TYPES = ("ClusterIP", "NodePort", "LoadBalancer")


def allocate_cluster_ip(store, used: set[str] | None = None, ports: list[int] | None = None, start: int = 2) -> str:
    """A free 127.2.X.Y nobody on the machine listens on at these ports (also usable by the
    API server's defaulting at create time)."""
    from tripgen_sandbox.kubelet.addresses import allocate  # noqa: PLC0415

    if used is None:
        used = {(s.get("spec") or {}).get("clusterIP") for s in store.iter("services")}
    return allocate("127.2", start, used, sorted(set(ports or [])))[0]


def _ready(pod: dict) -> bool:
    st = pod.get("status") or {}
    if pod["metadata"].get("deletionTimestamp") or not st.get("podIP"):
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in st.get("conditions") or [])


def _matches(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


class ServiceProxy:
    def __init__(self, cluster):
        self.cluster = cluster
        self.store = cluster.store
        self.servers: dict[tuple[str, int], tuple[tuple[str, str, str], asyncio.base_events.Server]] = {}
        self._rr = itertools.count()
        self._pending = False
        self._stopping = False
        self._conns: set[asyncio.Task] = set()
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        self.store.on_change(self._on_change)
        await self.reconcile()

    async def stop(self) -> None:
        self._stopping = True
        for _, server in self.servers.values():
            server.close()
        for t in list(self._conns):
            t.cancel()
        self.servers.clear()

    def _on_change(self, type_: str, key: str, obj: dict) -> None:
        if key != "services" or self._stopping or self._pending:
            return
        self._pending = True
        try:
            asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(self.reconcile()))
        except RuntimeError:
            self._pending = False

    async def reconcile(self) -> None:
        """Assign missing ClusterIPs, then open/close listeners to match the services."""
        self._pending = False
        async with self._lock:  # one at a time: listeners are opened across awaits
            if not self._stopping:
                await self._reconcile()

    async def _reconcile(self) -> None:
        used = {(s.get("spec") or {}).get("clusterIP") for s in self.store.iter("services")}
        for svc in list(self.store.iter("services")):
            spec = svc.get("spec") or {}
            if not spec.get("clusterIP") and spec.get("type", "ClusterIP") in ALLOCATING_TYPES:
                ports = [int(p["port"]) for p in spec.get("ports") or [] if p.get("port")]
                ip = allocate_cluster_ip(self.store, used, ports, start_index(self.cluster.config.short_id))
                used.add(ip)

                def assign(o, ip=ip):
                    o.setdefault("spec", {})
                    if not o["spec"].get("clusterIP"):
                        o["spec"]["clusterIP"] = ip
                        o["spec"]["clusterIPs"] = [ip]

                self.store.mutate("services", svc["metadata"]["namespace"], svc["metadata"]["name"], assign)
        wanted: dict[tuple[str, int], tuple[str, str, str]] = {}
        for svc in self.store.iter("services"):
            spec = svc.get("spec") or {}
            ip = spec.get("clusterIP")
            if not ip or ip == "None" or not ip.startswith("127."):
                continue
            for p in spec.get("ports") or []:
                if (p.get("protocol") or "TCP") == "TCP" and p.get("port"):
                    wanted[(ip, int(p["port"]))] = (svc["metadata"]["namespace"], svc["metadata"]["name"], str(p.get("name") or p["port"]))
        for key in [k for k in self.servers if k not in wanted or self.servers[k][0] != wanted[k]]:
            _, server = self.servers.pop(key)
            server.close()
        for key, ident in wanted.items():
            if key in self.servers:
                continue
            try:
                server = await asyncio.start_server(lambda r, w, ident=ident: self._accept(ident, r, w), key[0], key[1], reuse_address=True)
            except OSError as exc:
                log.warning("service %s/%s: cannot listen on %s:%s: %s", ident[0], ident[1], key[0], key[1], exc)
                continue
            self.servers[key] = (ident, server)

    def endpoints(self, namespace: str, name: str, port_key: str) -> list[tuple[str, int]]:
        """Ready pod addresses for one service port (selector, or a manual Endpoints object)."""
        svc = self.store.get("services", namespace, name)
        if svc is None:
            return []
        spec = svc.get("spec") or {}
        port = next((p for p in spec.get("ports") or [] if str(p.get("name") or p.get("port")) == port_key), None)
        if port is None:
            return []
        target = port.get("targetPort", port.get("port"))
        selector = spec.get("selector")
        out = []
        if selector:
            for pod in self.store.iter("pods", namespace):
                if not _matches(selector, pod["metadata"].get("labels") or {}) or not _ready(pod):
                    continue
                for c in pod["spec"].get("containers") or []:
                    try:
                        number = resolve_port(target, c)
                    except ValueError:
                        continue
                    out.append((pod["status"]["podIP"], number))
                    break
        else:
            ep = self.store.get("endpoints", namespace, name) or {}
            for subset in ep.get("subsets") or []:
                ports = subset.get("ports") or []
                number = next((p["port"] for p in ports if p.get("name") == port.get("name") or len(ports) == 1), None)
                for addr in subset.get("addresses") or []:
                    if number:
                        out.append((addr["ip"], int(number)))
        return out

    async def _accept(self, ident: tuple[str, str, str], reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._conns.add(task)
        up_w = None
        try:
            eps = self.endpoints(*ident)
            if not eps:
                return  # like kube-proxy's REJECT: the client sees the connection closed
            start = next(self._rr)
            for i in range(len(eps)):
                host, port = eps[(start + i) % len(eps)]
                try:
                    up_r, up_w = await asyncio.wait_for(asyncio.open_connection(host, port, local_addr=(SOURCE_ADDRESS, 0)), 5)
                    break
                except (OSError, asyncio.TimeoutError):
                    continue
            if up_w is None:
                return
            await asyncio.gather(_pipe(reader, up_w), _pipe(up_r, writer))
        except asyncio.CancelledError:
            pass
        finally:
            writer.close()
            if up_w is not None:
                up_w.close()
            self._conns.discard(task)


async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    try:
        while True:
            data = await src.read(BUFFER)
            if not data:
                break
            dst.write(data)
            await dst.drain()
        if dst.can_write_eof():
            dst.write_eof()
    except (OSError, asyncio.IncompleteReadError):
        pass
    except asyncio.CancelledError:
        dst.close()
        raise

"""The node's services every pod worker and container runner receive: configuration, the object
store, the image cache, the CPU sampler, the pod IP allocator, the mount mode, the paths, and the
container-context helpers built from them (base environment, /etc/hosts, QoS class, log paths).

A leaf of the kubelet package: it imports nothing of core, pod or runner, so the kubelet
(core) owns the workers, a worker owns its runners, and both reach the node only through this
object (`PodContext` says what they need of a pod), with no import going back up."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

from tripgen_sandbox import metrics
from tripgen_sandbox.kubelet import addresses
from tripgenctl.quantity import parse as parse_quantity

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class PodContext(Protocol):
    """What the node's helpers and a container runner use of the pod they serve (a PodWorker)."""

    services: "NodeServices"
    config: Any
    namespace: str
    name: str
    uid: str
    node: str
    pod_ip: str
    host_ip: str
    pod_dir: Path
    private_dir: Path
    sa_dir: Path | None

    def current_pod(self) -> dict | None: ...

    def refresh_volumes(self, pod: dict) -> dict[str, Path]: ...

    def grace_seconds(self) -> float: ...


class NodeServices:
    max_grace = 5.0  # the sandbox never waits longer than this for a container to stop

    def __init__(self, cluster):
        self.cluster = cluster  # for its token issuer (service-account tokens) and faults
        self.config = cluster.config
        self.store = cluster.store
        self.pulled: set[tuple[str, str]] = set()  # (node, image) already on the node
        self.cpu = metrics.CpuSampler()
        self.ips: dict[str, str] = {}  # pod uid -> pod IP
        self._next_ip = addresses.start_index(self.config.short_id)
        self.shims = self.config.runtime_dir / "bin"
        self.host_path = os.environ.get("PATH") or DEFAULT_PATH
        self.mountns = ""  # "view" | "hosts" | "": the kubelet probes it at start
        self._nodes = {n.name: n.ip for n in self.config.nodes}

    def is_mine(self, node: str | None) -> bool:
        return node in self._nodes

    @property
    def faults(self) -> dict:
        return getattr(self.cluster, "faults", None) or {}

    # ---- addresses ---------------------------------------------------------------------
    def node_ip(self, node: str) -> str:
        return self._nodes.get(node, "127.3.0.1")

    def allocate_ip(self, uid: str, previous: str | None = None, ports: list[int] | None = None) -> str:
        """127.1.X.Y, stable for the pod's lifetime (kept across a sandbox restart), on which
        nobody else on the machine listens on the pod's ports."""
        if uid in self.ips:
            return self.ips[uid]
        ports = sorted(set(ports or []))
        used = set(self.ips.values())
        for pod in self.store.iter("pods"):
            st = pod.get("status") or {}
            if pod["metadata"]["uid"] != uid and st.get("podIP") and st.get("phase") not in ("Succeeded", "Failed"):
                used.add(st["podIP"])
        if previous and previous.startswith("127.1.") and previous not in used and addresses.ports_free(previous, ports):
            ip = previous
        else:
            ip, self._next_ip = addresses.allocate("127.1", self._next_ip, used, ports)
        self.ips[uid] = ip
        return ip

    def release_ip(self, uid: str) -> None:
        self.ips.pop(uid, None)

    # ---- container context -------------------------------------------------------------
    def base_env(self, worker: PodContext, services: list[dict], home: str | None = None) -> dict[str, str]:
        """Only what a kubelet gives a container (nothing of the daemon's own environment leaks:
        no HOME or KUBECONFIG of the host). home: the path the container sees as its HOME."""
        own_home = worker.pod_dir / "rootfs" / "root"
        own_home.mkdir(parents=True, exist_ok=True)
        env = {
            "PATH": self.host_path,
            "HOSTNAME": worker.name,
            "HOME": home or str(own_home),
            "LANG": "C.UTF-8",
            "TRIPGEN_SANDBOX_ID": self.config.short_id,
        }
        if self.config.api_port:
            env.update({"KUBERNETES_SERVICE_HOST": self.config.api_host, "KUBERNETES_SERVICE_PORT": str(self.config.api_port), "KUBERNETES_SERVICE_PORT_HTTPS": str(self.config.api_port)})
        for svc in services:
            spec = svc.get("spec") or {}
            ip = spec.get("clusterIP")
            if svc["metadata"].get("namespace") != worker.namespace or not ip or ip == "None":
                continue
            prefix = svc["metadata"]["name"].upper().replace("-", "_")
            ports = spec.get("ports") or []
            env[f"{prefix}_SERVICE_HOST"] = ip
            if ports:
                first = ports[0]
                env[f"{prefix}_SERVICE_PORT"] = str(first.get("port"))
                env[f"{prefix}_PORT"] = f"{(first.get('protocol') or 'TCP').lower()}://{ip}:{first.get('port')}"
            for p in ports:
                proto = (p.get("protocol") or "TCP")
                base = f"{prefix}_PORT_{p.get('port')}_{proto}"
                env[base] = f"{proto.lower()}://{ip}:{p.get('port')}"
                env[base + "_PROTO"] = proto.lower()
                env[base + "_PORT"] = str(p.get("port"))
                env[base + "_ADDR"] = ip
                if p.get("name"):
                    env[f"{prefix}_SERVICE_PORT_{p['name'].upper().replace('-', '_')}"] = str(p.get("port"))
        return env

    def hosts_file(self, worker: PodContext) -> Path:
        """/etc/hosts for the pod's private view: every Service's DNS names -> its ClusterIP."""
        lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback", f"{worker.pod_ip}\t{worker.name}"]
        for svc in self.store.iter("services"):
            ip = (svc.get("spec") or {}).get("clusterIP")
            if not ip or ip == "None":
                continue
            name, ns = svc["metadata"]["name"], svc["metadata"]["namespace"]
            names = [f"{name}.{ns}.svc.cluster.local", f"{name}.{ns}.svc", f"{name}.{ns}"] + ([name] if ns == worker.namespace else [])
            lines.append(ip + "\t" + " ".join(names))
        hosts = worker.private_dir / "hosts"
        hosts.parent.mkdir(parents=True, exist_ok=True)
        tmp = hosts.with_suffix(".tmp")
        tmp.write_text("\n".join(lines) + "\n")
        os.replace(tmp, hosts)
        return hosts

    def mountns_wrapper(self, worker: PodContext) -> list[str]:
        """Where only a private /etc/hosts is possible: run the process in a mount namespace
        with it, so names used inside scripts resolve too (argv and env are rewritten either way)."""
        if self.mountns != "hosts":
            return []
        hosts = self.hosts_file(worker)
        return ["unshare", "-m", "--propagation", "private", "sh", "-c", 'mount --bind "$0" /etc/hosts 2>/dev/null; exec "$@"', str(hosts)]

    def qos_class(self, worker: PodContext) -> str:
        pod = worker.current_pod() or {}
        containers = (pod.get("spec") or {}).get("containers") or []
        any_set = False
        guaranteed = bool(containers)
        for c in containers:
            res = c.get("resources") or {}
            req, lim = res.get("requests") or {}, res.get("limits") or {}
            if req or lim:
                any_set = True
            for r in ("cpu", "memory"):
                if r not in lim or parse_quantity(req.get(r, lim[r])) != parse_quantity(lim[r]):
                    guaranteed = False
        if not any_set:
            return "BestEffort"
        return "Guaranteed" if guaranteed else "Burstable"

    def log_dir(self, worker: PodContext) -> Path:
        return self.config.state_dir / "logs" / f"{worker.namespace}_{worker.name}_{worker.uid}"

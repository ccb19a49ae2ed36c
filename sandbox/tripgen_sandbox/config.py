"""What the sandbox looks like: where it keeps state, its nodes, which images it can "pull",
and how fast back-offs grow. Defaults model the TripGen cluster (2 x Standard_B2s); tests
shrink the back-offs so CrashLoopBackOff is reached in seconds, not minutes."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

SERVICES = ("user-service", "trip-service", "ai-service", "location-service")
REGISTRY = "tripgendev.azurecr.io"


@dataclass
class NodeShape:
    name: str
    ip: str
    cpu: str = "2"  # capacity
    memory: str = "4030180Ki"  # Standard_B2s: 4 GiB
    allocatable_cpu: str = "1900m"  # AKS reserves ~100m on a 2-vCPU node
    allocatable_memory: str = "2681280Ki"  # AKS reserves kube + eviction memory on a 4 GiB node
    pods: str = "110"
    ephemeral_storage: str = "129886128Ki"  # 128 GiB OS disk


def default_nodes() -> list[NodeShape]:
    return [NodeShape("sandbox-node-1", "127.3.0.1"), NodeShape("sandbox-node-2", "127.3.0.2")]


def default_catalog() -> dict[str, list[str]]:
    """repository -> tags the sandbox registry has. Other repos/tags: 'manifest unknown'."""
    cat = {f"{REGISTRY}/{svc}": ["latest", "dev", "1.0.0"] for svc in SERVICES}
    cat.update(
        {
            "postgres": ["16-alpine", "16", "16.2", "16-bookworm"],
            "bitnami/postgresql": ["16", "16.2.0"],
            "redis": ["7.2-alpine", "7.2", "7"],
            "bitnami/redis": ["7.2", "7.2.4"],
            "busybox": ["latest", "1.36"],
            "alpine": ["latest", "3.19", "3.20"],
            "python": ["*"],  # any tag: the sandbox's own Python
            "nginx": ["*"],  # any tag: a stand-in serving the stock index page on port 80
            f"{REGISTRY}/tripgenctl": ["latest", "0.1.0"],
        }
    )
    from tripgen_sandbox.controllers.system import catalog as system_catalog

    cat.update(system_catalog())
    return cat


@dataclass
class SandboxConfig:
    state_dir: Path
    nodes: list[NodeShape] = field(default_factory=default_nodes)
    catalog: dict[str, list[str]] = field(default_factory=default_catalog)
    api_host: str = "127.0.0.1"
    api_port: int = 0  # 0: choose a free port once, then keep it
    backoff_base: float = 10.0  # CrashLoopBackOff / ImagePullBackOff start (kubelet: 10 s)
    backoff_cap: float = 300.0  # and cap (kubelet: 5 min)
    memory_poll_interval: float = 0.5  # OOM watchdog period
    kubernetes_version: str = "v1.29.4"
    system_pods: bool = True  # kube-system add-ons as on AKS (stand-ins that idle)
    pod_startup_seconds: float = 0.0  # extra time a container takes to start (a slow node)
    probe_period_cap: float = 0.0  # >0: readiness/startup probes try at least this often (kubelet/probes.py timing)

    @property
    def short_id(self) -> str:
        """Stable id of this sandbox (used for process markers and short socket paths)."""
        return hashlib.sha1(str(self.state_dir.resolve()).encode()).hexdigest()[:10]

    @property
    def runtime_dir(self) -> Path:
        """Short path for unix sockets (sun_path is limited to 107 bytes)."""
        return Path("/tmp") / f"tgsb-{self.short_id}"

    def save(self) -> None:
        data = asdict(self)
        data["state_dir"] = str(self.state_dir)
        from tripgen_sandbox.private import write_private

        write_private(self.state_dir / "sandbox.json", json.dumps(data, indent=2))

    @classmethod
    def load(cls, state_dir: Path) -> "SandboxConfig":
        path = state_dir / "sandbox.json"
        if not path.exists():
            return cls(state_dir=state_dir)
        data = json.loads(path.read_text())
        data["state_dir"] = state_dir
        data["nodes"] = [NodeShape(**n) for n in data.get("nodes", [])] or default_nodes()
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

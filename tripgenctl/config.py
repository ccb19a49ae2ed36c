"""Tool configuration: the environment's names, sizes and thresholds that SPEC.md says belong in
configuration (revision 001 by default, 000 as a profile). TOML, all keys optional, read from
--config (which sets $TRIPGENCTL_CONFIG for the whole process tree), else ./tripgenctl.toml, else
the user config dir (~/.config/tripgenctl/config.toml). Commands read names from here, never
from literals of their own."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tripgenctl.errors import UsageError

SANDBOX_CONTEXTS = ("tripgen-sandbox", "tripgen-sandbox-cert")
APPS = ["user-service", "trip-service", "ai-service", "location-service"]


@dataclass
class Workloads:
    apps: list[str] = field(default_factory=lambda: list(APPS))
    postgres: str = "postgresql"  # StatefulSet; its pod is <name>-0
    redis: str = "redis"

    @property
    def postgres_pod(self) -> str:
        return f"{self.postgres}-0"

    @property
    def redis_pod(self) -> str:
        return f"{self.redis}-0"


@dataclass
class Thresholds:
    restarts: int = 5  # crash loop alert
    node_notready_minutes: float = 5.0
    memory_percent: float = 90.0
    disk_percent: float = 85.0


@dataclass
class BackupConfig:
    dir: str = "backups"
    name_format: str = "dev-backup-%Y%m%d-%H%M%S"
    keep_days: int = 7
    format: str = "custom"  # custom (-Fc) | plain


@dataclass
class ScheduleConfig:
    timezone: str = "Asia/Seoul"
    down_time: str = "20:00"
    up_time: str = "08:00"
    days: str = "MON-FRI"
    holidays: list[str] = field(default_factory=list)  # ISO dates on which the morning up does nothing
    notify_url: str | None = None


@dataclass
class AzureConfig:
    subscription: str | None = None
    resource_group: str = "rg-tripgen-dev"
    cluster_name: str = "aks-tripgen-dev"
    servicebus_namespace: str = "sb-tripgen-dev"


@dataclass
class ToolConfig:
    profile: str = "001"
    namespace: str = "tripgen-dev"
    # the target guard (ops/guard.py): destructive commands refuse other contexts unless
    # --allow-other-context. Exact names; an entry is a glob pattern only if written as one here.
    # None: the sandbox's contexts and the AKS cluster's own (azure.cluster_name, as `cluster
    # credentials` names it).
    expected_contexts: list[str] | None = None
    expected_servers: list[str] = field(default_factory=list)
    workloads: Workloads = field(default_factory=Workloads)
    images: dict[str, str] = field(default_factory=dict)  # container name -> image, over the profile's
    resources: dict[str, dict] = field(default_factory=dict)  # container name -> {requests: {...}, limits: {...}}
    thresholds: Thresholds = field(default_factory=Thresholds)
    backup: BackupConfig = field(default_factory=BackupConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    azure: AzureConfig = field(default_factory=AzureConfig)
    source: str | None = None  # the file it was read from

    def target_contexts(self) -> list[str]:
        """The context names (or the user's own patterns) the guard accepts."""
        if self.expected_contexts is not None:
            if not isinstance(self.expected_contexts, list) or not all(isinstance(c, str) for c in self.expected_contexts):
                raise UsageError("config expected_contexts: expected a list of context names")
            return list(self.expected_contexts)
        return [*SANDBOX_CONTEXTS, self.azure.cluster_name]


SECTIONS = {"workloads": Workloads, "thresholds": Thresholds, "backup": BackupConfig, "schedule": ScheduleConfig, "azure": AzureConfig}


def candidates() -> list[Path]:
    env = os.environ.get("TRIPGENCTL_CONFIG")
    if env:
        return [Path(env)]
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return [Path("tripgenctl.toml"), base / "tripgenctl" / "config.toml"]


def _build(cls, data: dict[str, Any], where: str):
    if not isinstance(data, dict):
        raise UsageError(f"config {where}: expected a table")
    kwargs = {}
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key, value in data.items():
        name = key.replace("-", "_")
        if name not in fields or name == "source":
            raise UsageError(f"config {where}: unknown key {key!r}")
        sub = SECTIONS.get(name) if cls is ToolConfig else None
        kwargs[name] = _build(sub, value, f"{where} [{key}]") if sub else value
    return cls(**kwargs)


def _toml_loads(text: str) -> dict:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    return tomllib.loads(text)


def load(path: str | None = None) -> ToolConfig:
    explicit = path or os.environ.get("TRIPGENCTL_CONFIG")
    for p in [Path(explicit)] if explicit else candidates():
        if p.exists():
            try:
                data = _toml_loads(p.read_text())
            except ValueError as exc:
                raise UsageError(f"config {p}: not valid TOML ({exc})") from None
            cfg = _build(ToolConfig, data, str(p))
            cfg.source = str(p)
            return cfg
        if explicit:
            raise UsageError(f"config file {p} does not exist")
    return ToolConfig()


def dumps(data: dict[str, Any]) -> str:
    """A small TOML writer for the config shapes above (scalars, lists of scalars, one level of
    tables and tables of tables), used to ship the config to the in-cluster jobs."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{_key(k)} = {value(x)}" for k, x in v.items()) + "}"
        s = str(v).replace("\\", "\\\\").replace('"', '\\"')
        return f'"{s}"'

    lines, tables = [], []
    for k, v in data.items():
        if v is None:
            continue
        if isinstance(v, dict) and all(isinstance(x, dict) for x in v.values()) and v:
            tables.append((k, v, True))
        elif isinstance(v, dict):
            tables.append((k, v, False))
        else:
            lines.append(f"{_key(k)} = {value(v)}")
    for k, v, nested in tables:
        if nested:
            for sub, inner in v.items():
                lines.append(f"\n[{_key(k)}.{_key(sub)}]")
                lines.extend(f"{_key(a)} = {value(b)}" for a, b in inner.items() if b is not None)
        else:
            lines.append(f"\n[{_key(k)}]")
            lines.extend(f"{_key(a)} = {value(b)}" for a, b in v.items() if b is not None)
    return "\n".join(lines) + "\n"


def _key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() else f'"{k}"'

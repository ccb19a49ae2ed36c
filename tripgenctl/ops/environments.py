"""The environments of the config side by side (`tripgenctl env list`): each one's state read
from its own cluster, its newest backup, where it lives, who owns it and when it expires. One
that cannot be read says so ("unknown (reason)"), it is never shown as down."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from tripgenctl.config import Environment, ToolConfig
from tripgenctl.errors import ToolError
from tripgenctl.timestamps import parse_time


@dataclass
class EnvironmentRow:
    __table__ = ("name", "state", "namespace", "context", "newest_backup", "owner", "expires")
    name: str
    default: bool
    state: str  # UP, DOWN, DEGRADED, TRANSITIONING (+ "awake until ..."), or "unknown (reason)"
    namespace: str
    context: str
    profile: str
    newest_backup: str  # time of the newest backup with metadata in its backup directory, or "none"
    owner: str
    expires: str
    expired: bool


@dataclass
class EnvironmentList:
    environments: list[EnvironmentRow] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(not r.state.startswith("unknown") for r in self.environments)


def configured(cfg: ToolConfig) -> dict[str, Environment]:
    """The named environments; without any, the one the top-level keys describe, as "default"."""
    if cfg.environments:
        return dict(cfg.environments)
    return {"default": Environment(namespace=cfg.namespace, profile=cfg.profile, backup_dir=cfg.backup.dir)}


def _state(connect: Callable[[str | None, str], object], env: Environment) -> str:
    from tripgenctl.ops import schedule, workloads

    try:
        kube = connect(env.context, env.namespace)
        state = workloads.read(kube).overall
        awake = schedule.awake_until(kube)
    except ToolError as exc:
        return f"unknown ({exc.message})"
    return f"{state} (awake until {awake})" if awake else state


def _newest_backup(directory: str) -> str:
    from tripgenctl.ops import catalog

    try:
        entries = [e for e in catalog.list_backups(Path(directory)) if e.state in ("recorded", "verified")]
    except OSError as exc:
        return f"unknown ({exc.strerror})"
    return entries[-1].time if entries else "none"


def _expired(expires: str | None, now: datetime) -> bool:
    when = parse_time(expires) if expires else None
    return bool(when and when <= now)


def list_environments(cfg: ToolConfig, connect: Callable[[str | None, str], object], now: datetime | None = None) -> EnvironmentList:
    now = now or datetime.now(timezone.utc)
    default = cfg.default_environment or ("default" if not cfg.environments else None)
    rows = []
    for name, env in sorted(configured(cfg).items()):
        rows.append(EnvironmentRow(
            name=name, default=name == default, state=_state(connect, env), namespace=env.namespace,
            context=env.context or "(current)", profile=env.profile or cfg.profile,
            newest_backup=_newest_backup(env.backup_dir or cfg.backup.dir), owner=env.owner or "-",
            expires=env.expires or "-", expired=_expired(env.expires, now)))
    return EnvironmentList(rows)

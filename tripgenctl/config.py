"""Tool configuration: the environment's names, sizes and thresholds that SPEC.md says belong in
configuration (revision 001 by default, 000 as a profile). TOML, all keys optional, read from
--config, else $TRIPGENCTL_CONFIG, else ./tripgenctl.toml, else the user config dir
(~/.config/tripgenctl/config.toml). Built once per run by the CLI's root callback (load()) and
handed to ops explicitly. Commands read names from here, never
from literals of their own."""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

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
    # the team store (ops/store.py): azure://<account>/<container>[/<prefix>]
    store: str | None = None
    store_keep_min: int = 3  # `db prune --store` never leaves fewer verified backups than this
    # a verified backup to the store before every scheduled `down` (None: on when a store is set)
    before_scheduled_down: bool | None = None
    max_age_days: float = 7.0  # doctor's `backup` check: the newest verified backup older than this warns


@dataclass
class TimeoutsConfig:
    """Deadlines (seconds) for every wait on the environment's servers: how long a PostgreSQL
    lock may be waited for (pg_dump --lock-wait-timeout, lock_timeout and the restore watchdog),
    how long one SQL statement may run, a small exec command (psql query, version), and one
    redis-cli command. All must be numbers > 0: a wait without a deadline is what hangs."""

    lock_wait: float = 30.0
    statement: float = 900.0
    exec: float = 120.0
    redis: float = 10.0

    def _validate(self, where: str) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 86400:
                raise UsageError(f"config {where}: {f.name} must be a number of seconds above 0 and at most 86400, not {value!r}")


@dataclass
class ScheduleConfig:
    timezone: str = "Asia/Seoul"
    down_time: str = "20:00"
    up_time: str = "08:00"
    days: str = "MON-FRI"
    holidays: list[str] = field(default_factory=list)  # ISO dates on which the morning up does nothing
    notify_url: str | None = None
    # the weekly restore drill (`schedule install --drill`, a CronJob running `db drill` on the
    # team store's newest backup): its day and time, in `timezone`
    drill: bool = False
    drill_day: str = "SUN"
    drill_time: str = "03:00"


@dataclass
class GitOpsConfig:
    """Where `down` looks for the GitOps objects that would revert it (ops/gitops.py)."""

    argocd_namespaces: list[str] = field(default_factory=lambda: ["argocd"])
    flux_namespaces: list[str] = field(default_factory=lambda: ["flux-system"])


@dataclass
class AzureConfig:
    subscription: str | None = None
    resource_group: str = "rg-tripgen-dev"
    cluster_name: str = "aks-tripgen-dev"
    servicebus_namespace: str = "sb-tripgen-dev"
    # AKS asks for a wait between power operations (15-30 minutes): `cluster stop` refuses
    # within this many minutes of the last start or stop (ARM's systemData.lastModifiedAt)
    power_cooldown_minutes: float = 15.0
    poll_interval: float = 5.0  # seconds between two looks at a running ARM operation ($TRIPGENCTL_AZURE_POLL_INTERVAL)


@dataclass
class CostConfig:
    """The SPEC's cost model, per month (Azure bills hourly at monthly/730)."""

    nodes: float = 120.0  # two Standard_B2s spot nodes: billed while the cluster runs
    disk: float = 5.0
    load_balancer: float = 20.0
    servicebus: float = 10.0
    monitoring: float = 15.0
    target: float = 200.0
    hours_per_month: float = 730.0
    currency: str = "USD"
    history_months: int = 13  # how far back the in-cluster history (ops/history.py) is kept


@dataclass
class Environment:
    """One named environment ([environments.NAME]): where it lives and how it is guarded.
    Selected with --env NAME (or default_environment); its values then stand in for the
    top-level namespace, profile, expected contexts and backup directory."""

    namespace: str = "tripgen-dev"
    context: str | None = None  # the kube context it lives in (default: the kubeconfig's current one)
    profile: str | None = None
    guard: list[str] = field(default_factory=list)  # expected contexts (default: [context])
    backup_dir: str | None = None
    store: str | None = None  # a team backup store (azure://account/container), when one is used
    owner: str | None = None
    expires: str | None = None  # RFC 3339: a developer's copy past this is removed by `env gc`
    source: str | None = None  # the environment it was copied from


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
    timeouts: TimeoutsConfig = field(default_factory=TimeoutsConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    azure: AzureConfig = field(default_factory=AzureConfig)
    cost: CostConfig = field(default_factory=CostConfig)
    gitops: GitOpsConfig = field(default_factory=GitOpsConfig)
    environments: dict[str, Environment] = field(default_factory=dict)
    default_environment: str | None = None
    # connect + read deadline of every Kubernetes API request but watches (seconds), as
    # kubectl's --request-timeout: a server that accepts and never answers cannot hang a command
    request_timeout: float = 30.0
    # how long a run's up/down lock (a Lease) outlives its last renewal ($TRIPGENCTL_LOCK_SECONDS)
    lock_seconds: int = 30
    source: str | None = None  # the file it was read from
    environment: str | None = None  # the environment selected for this run (not a file key)

    def target_contexts(self) -> list[str]:
        """The context names (or the user's own patterns) the guard accepts."""
        if self.expected_contexts is not None:
            if not isinstance(self.expected_contexts, list) or not all(isinstance(c, str) for c in self.expected_contexts):
                raise UsageError("config expected_contexts: expected a list of context names")
            return list(self.expected_contexts)
        return [*SANDBOX_CONTEXTS, self.azure.cluster_name]


SECTIONS = {"workloads": Workloads, "thresholds": Thresholds, "backup": BackupConfig, "timeouts": TimeoutsConfig,
            "schedule": ScheduleConfig, "azure": AzureConfig, "cost": CostConfig, "gitops": GitOpsConfig}


def candidates(environ: Mapping[str, str] | None = None) -> list[Path]:
    environ = os.environ if environ is None else environ
    env = environ.get(CONFIG_VAR)
    if env:
        return [Path(env)]
    base = Path(environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return [Path("tripgenctl.toml"), base / "tripgenctl" / "config.toml"]


def _build(cls, data: dict[str, Any], where: str):
    if not isinstance(data, dict):
        raise UsageError(f"config {where}: expected a table")
    kwargs = {}
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for key, value in data.items():
        name = key.replace("-", "_")
        if name not in fields or (cls is ToolConfig and name in ("source", "environment")):
            raise UsageError(f"config {where}: unknown key {key!r}")
        sub = SECTIONS.get(name) if cls is ToolConfig else None
        if cls is ToolConfig and name == "environments":
            if not isinstance(value, dict):
                raise UsageError(f"config {where}: environments must be a table of tables ([environments.NAME])")
            kwargs[name] = {env: _build(Environment, v, f"{where} [environments.{env}]") for env, v in value.items()}
            continue
        if sub:
            kwargs[name] = _build(sub, value, f"{where} [{key}]")
            continue
        expected = _type_error(value, hints[name])
        if expected:
            raise UsageError(f"config {where}: {key} must be {expected}, got {_shown(value)}")
        kwargs[name] = float(value) if hints[name] is float else value
    obj = cls(**kwargs)
    if hasattr(obj, "_validate"):
        obj._validate(where)
    return obj


_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false", dict: "a table", list: "a list"}


def _type_error(value: Any, hint: Any) -> str | None:
    """What `value` should have been for the annotation `hint`, or None when it fits. TOML gives
    str, int, float, bool, list and dict; a bool is not a number here, an int is a float."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        return None if value is None or any(_type_error(value, a) is None for a in options) else _type_error(value, options[0])
    if origin is list:
        if not isinstance(value, list):
            return _NAMES[list] + (f" of {_plural(args[0])}" if args else "")
        return next((f"a list of {_plural(args[0])}" for v in value if args and _type_error(v, args[0])), None)
    if origin is dict:
        if not isinstance(value, dict):
            return _NAMES[dict]
        return next((f"a table of {_plural(args[1])}" for v in value.values() if len(args) == 2 and _type_error(v, args[1])), None)
    if hint is float:
        return None if isinstance(value, (int, float)) and not isinstance(value, bool) else _NAMES[float]
    if hint is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else _NAMES[int]
    if hint in _NAMES:
        return None if isinstance(value, hint) else _NAMES[hint]
    return None


def _plural(hint: Any) -> str:
    return {str: "strings", int: "integers", float: "numbers", bool: "booleans", dict: "tables"}.get(hint, "values")


def _shown(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else f'"{value}"'
    return text if len(text) <= 40 else text[:37] + "..."


def _toml_loads(text: str) -> dict:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    return tomllib.loads(text)


def load(path: str | None = None, environment: str | None = None, environ: Mapping[str, str] | None = None) -> ToolConfig:
    """The run's configuration, built once (the CLI's root callback; nothing under ops/ calls
    this): the file (`path`, else $TRIPGENCTL_CONFIG, else candidates()), type-checked; the named
    environment (`environment`, else $TRIPGENCTL_ENV, else default_environment) applied; then
    the environment variables that stand in for config keys (ENV_OVERRIDES), applied here and
    nowhere else. `environ` is os.environ unless a caller passes its own."""
    environ = os.environ if environ is None else environ
    explicit = path or environ.get(CONFIG_VAR)
    cfg = None
    for p in [Path(explicit)] if explicit else candidates(environ):
        if p.exists():
            try:
                data = _toml_loads(p.read_text())
            except ValueError as exc:
                raise UsageError(f"config {p}: not valid TOML ({exc})") from None
            cfg = _build(ToolConfig, data, str(p))
            _check_request_timeout(cfg.request_timeout, str(p))
            cfg.source = str(p)
            break
        if explicit:
            raise UsageError(f"config file {p} does not exist")
    cfg = select_environment(cfg or ToolConfig(), environment or environ.get(ENV_VAR))
    return apply_environ(cfg, environ)


CONFIG_VAR = "TRIPGENCTL_CONFIG"  # the config file when --config is not given
STORE_VAR = "TRIPGENCTL_BACKUP_STORE"  # CI and the sandbox's azure.env: the store without a config file
LOCK_SECONDS_VAR = "TRIPGENCTL_LOCK_SECONDS"
POLL_INTERVAL_VAR = "TRIPGENCTL_AZURE_POLL_INTERVAL"
SUBSCRIPTION_VAR = "AZURE_SUBSCRIPTION_ID"
# variable -> (section or None for top level, key): a set variable wins over the file and the
# selected environment, as it always did where each was read
ENV_OVERRIDES = {
    STORE_VAR: ("backup", "store"),
    SUBSCRIPTION_VAR: ("azure", "subscription"),
    POLL_INTERVAL_VAR: ("azure", "poll_interval"),
    LOCK_SECONDS_VAR: (None, "lock_seconds"),
}


def apply_environ(cfg: ToolConfig, environ: Mapping[str, str]) -> ToolConfig:
    """The one place environment variables become configuration values. Empty means unset.
    TRIPGENCTL_LOCK_SECONDS keeps its old leniency (a non-number is ignored, at least 1 s);
    a poll interval that is not a positive number is one usage line."""
    for var, (section, key) in ENV_OVERRIDES.items():
        value = environ.get(var)
        if not value:
            continue
        target = getattr(cfg, section) if section else cfg
        if var == LOCK_SECONDS_VAR:
            try:
                target.lock_seconds = max(1, int(value))
            except ValueError:
                pass
        elif var == POLL_INTERVAL_VAR:
            try:
                seconds = float(value)
            except ValueError:
                seconds = -1.0
            if not 0 < seconds <= 3600:
                raise UsageError(f"{var}: expected a number of seconds above 0, got {_shown(value)}")
            target.poll_interval = seconds
        else:
            setattr(target, key, value)
    return cfg


class UnknownEnvironment(UsageError):
    """--env names no configured environment (it may still be a developer's copy in the cluster)."""

    def __init__(self, name: str, known: list[str]):
        super().__init__(f"no environment {name!r} in the config (environments: {', '.join(known) or 'none configured'}) "
                         f"and no copy of that name (tripgenctl env create {name} --from ...)")
        self.name = name


ENV_VAR = "TRIPGENCTL_ENV"  # the environment when --env is not given


def select_environment(cfg: ToolConfig, name: str | None) -> ToolConfig:
    """Apply the named (else the default) environment's values over the top-level ones."""
    name = name or cfg.default_environment
    if not name:
        return cfg
    env = cfg.environments.get(name)
    if env is None:
        raise UnknownEnvironment(name, sorted(cfg.environments))
    cfg.environment = name
    cfg.namespace = env.namespace
    cfg.profile = env.profile or cfg.profile
    if env.guard or env.context:
        cfg.expected_contexts = list(env.guard or [env.context])
    if env.backup_dir:
        cfg.backup.dir = env.backup_dir
    if env.store:
        cfg.backup.store = env.store
    return cfg


MAX_REQUEST_TIMEOUT = 3600.0


def _check_request_timeout(value: Any, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= MAX_REQUEST_TIMEOUT:
        raise UsageError(f"config {where}: request_timeout must be a number of seconds above 0 and at most {MAX_REQUEST_TIMEOUT:g}, not {value!r}")


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

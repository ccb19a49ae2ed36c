"""A copy of an environment for one developer (`env create NAME --from SOURCE`): the manifests
rendered into `<source namespace>-<NAME>`, labelled with owner and source and annotated with an
expiry, its Secrets copied from the source, its data from the source's newest verified backup
(or the sample data, a given file, or nothing). A capacity check comes first, against what the
nodes can still hold; `--apps-only` shares the source's PostgreSQL and Redis through a database
and a Redis DB index of the copy's own. Copies are found again by their labels (`env gc`, doctor),
so a scheduled job in the cluster knows them without anybody's laptop config."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

from tripgenctl import manifests, quantity
from tripgenctl.errors import ProblemFound, ToolError, UsageError
from tripgenctl.kube import resources
from tripgenctl.timestamps import format_time, parse_time

ENV_LABEL = "tripgenctl.io/environment"
SOURCE_LABEL = "tripgenctl.io/source"
OWNER_LABEL = "tripgenctl.io/owner"
EXPIRES_ANNOTATION = "tripgenctl.io/expires"
APPS_ONLY_ANNOTATION = "tripgenctl.io/apps-only"  # "<source ns>/<database>/<redis db>"
DATA_KINDS = ("latest", "sample", "none")
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
TTL = re.compile(r"(\d+)([mhd])")
MAX_TTL_DAYS = 30


@dataclass
class Capacity:
    requested_cpu: str
    requested_memory: str
    free_cpu: str
    free_memory: str
    fits: bool


@dataclass
class CopyPlan:
    name: str
    source: str
    source_namespace: str
    namespace: str
    context: str
    data: str
    apps_only: bool
    expires: str | None
    capacity: Capacity
    objects: list[str] = field(default_factory=list)
    database: str | None = None  # apps-only: the copy's database in the source's PostgreSQL
    redis_db: int | None = None


@dataclass
class CopyResult:
    __sections__ = ()
    name: str
    namespace: str
    source: str
    data: str
    apps_only: bool
    expires: str | None
    ready: bool
    message: str
    table_counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.ready


def copy_namespace(source_namespace: str, name: str) -> str:
    if not DNS_LABEL.fullmatch(name) or len(name) > 30:
        raise UsageError(f"environment name {name!r}: use lower-case letters, digits and '-', at most 30 characters")
    ns = f"{source_namespace}-{name}"
    if len(ns) > 63:
        raise UsageError(f"namespace {ns} would be longer than 63 characters")
    return ns


def parse_ttl(value: str | None, now: datetime) -> datetime | None:
    """'3d', '12h', '90m' (one unit) -> the expiry time; at most MAX_TTL_DAYS."""
    if not value:
        return None
    m = TTL.fullmatch(value.strip())
    if not m:
        raise UsageError(f"--ttl {value!r}: use a number and m, h or d (3d, 12h, 90m)")
    n, unit = int(m.group(1)), m.group(2)
    if n <= 0 or n > {"m": MAX_TTL_DAYS * 1440, "h": MAX_TTL_DAYS * 24, "d": MAX_TTL_DAYS}[unit]:
        raise UsageError(f"--ttl {value!r}: must be more than 0 and at most {MAX_TTL_DAYS} days")
    return now + timedelta(**{{"m": "minutes", "h": "hours", "d": "days"}[unit]: n})


# ---- capacity -------------------------------------------------------------------------------
def requests_of(objects: list[dict]) -> tuple[float, float]:
    """(CPU millicores, memory bytes) the workloads ask for: replicas x their containers' requests."""
    cpu = mem = 0.0
    for obj in objects:
        if obj["kind"] not in ("Deployment", "StatefulSet"):
            continue
        replicas = (obj.get("spec") or {}).get("replicas", 1) or 0
        for c in manifests.containers(obj):
            req = (c.get("resources") or {}).get("requests") or {}
            cpu += replicas * quantity.cpu_millis(req.get("cpu"))
            mem += replicas * quantity.parse(req.get("memory"))
    return cpu, mem


def free_capacity(kube) -> tuple[float, float]:
    """Allocatable of the Ready, schedulable nodes minus the requests of every pod that still
    holds its place (not Succeeded or Failed), as the scheduler counts them."""
    cpu = mem = 0.0
    for node in resources.nodes(kube):
        if not node.ready or not node.schedulable:
            continue
        cpu += node.cpu_millis
        mem += node.memory_bytes
    for pod in resources.items(kube, "v1", "Pod", all_namespaces=True):
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        for c in (pod.get("spec") or {}).get("containers") or []:
            req = (c.get("resources") or {}).get("requests") or {}
            cpu -= quantity.cpu_millis(req.get("cpu"))
            mem -= quantity.parse(req.get("memory"))
    return cpu, mem


def capacity(kube, objects: list[dict]) -> Capacity:
    want_cpu, want_mem = requests_of(objects)
    free_cpu, free_mem = free_capacity(kube)
    return Capacity(quantity.fmt_cpu(want_cpu), quantity.fmt_bytes(want_mem), quantity.fmt_cpu(max(free_cpu, 0)),
                    quantity.fmt_bytes(max(free_mem, 0)), want_cpu <= free_cpu and want_mem <= free_mem)


# ---- rendering --------------------------------------------------------------------------------
def render(source_namespace: str, namespace: str, profile: str | None, apps_only: bool, database: str | None,
           redis_db: int | None, cfg) -> list[dict]:
    """The copy's objects: the environment's manifests in the copy's namespace; apps-only
    without PostgreSQL and Redis, the apps pointed at the source's servers and their own
    database and Redis DB index."""
    objects = manifests.render(namespace, profile, config=cfg)
    if not apps_only:
        return objects
    data = {cfg.workloads.postgres, cfg.workloads.redis}
    kept = []
    for obj in objects:
        if obj["kind"] in ("StatefulSet", "Service") and obj["metadata"]["name"] in data:
            continue
        if obj["kind"] == "Namespace":
            continue
        for c in manifests.containers(obj):
            _point_at_source(c, source_namespace, namespace, cfg, database, redis_db)
        kept.append(obj)
    return kept


def _point_at_source(container: dict, source_ns: str, ns: str, cfg, database: str | None, redis_db: int | None) -> None:
    pg_host = f"{cfg.workloads.postgres}.{ns}.svc.cluster.local"
    redis_host = f"{cfg.workloads.redis}.{ns}.svc.cluster.local"
    env = container.get("env") or []
    for var in env:
        value = var.get("value")
        if not isinstance(value, str):
            continue
        if pg_host in value:
            value = value.replace(pg_host, f"{cfg.workloads.postgres}.{source_ns}.svc.cluster.local")
            if database:
                value = re.sub(r"/[A-Za-z0-9_]+$", f"/{database}", value)
        value = value.replace(redis_host, f"{cfg.workloads.redis}.{source_ns}.svc.cluster.local")
        var["value"] = value
    if redis_db is not None and any(v.get("name") == "SPRING_DATA_REDIS_HOST" for v in env):
        env.append({"name": "SPRING_DATA_REDIS_DATABASE", "value": str(redis_db)})


def reach_policy(source_ns: str, copy_ns: str, cfg) -> dict:
    """A NetworkPolicy in the source namespace that lets the copy's app pods reach its PostgreSQL
    and Redis (the source's own policies admit only pods of their namespace)."""
    return {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": f"allow-copy-{copy_ns}"[:63], "namespace": source_ns, "labels": {SOURCE_LABEL: copy_ns}},
        "spec": {
            "podSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": [cfg.workloads.postgres, cfg.workloads.redis]}]},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": copy_ns}},
                                   "podSelector": {"matchLabels": {"tier": "application"}}}],
                         "ports": [{"protocol": "TCP", "port": 5432}, {"protocol": "TCP", "port": 6379}]}],
        },
    }


def copies(kube, source_namespace: str | None = None) -> list[dict]:
    """Namespaces that are copies (of `source_namespace`, or of anything)."""
    selector = ENV_LABEL if source_namespace is None else f"{ENV_LABEL},{SOURCE_LABEL}={source_namespace}"
    return resources.items(kube, "v1", "Namespace", selector=selector)


def _redis_index(kube, source_namespace: str) -> int:
    used = {int(a.split("/")[-1]) for ns in copies(kube, source_namespace)
            for a in [((ns.get("metadata") or {}).get("annotations") or {}).get(APPS_ONLY_ANNOTATION, "")] if a.count("/") == 2}
    for i in range(1, 16):
        if i not in used:
            return i
    raise ProblemFound(f"{source_namespace}'s Redis has no free DB index left (1-15 are taken by other copies)")


# ---- plan and create -------------------------------------------------------------------------
def plan(kube, cfg, name: str, source: str, source_namespace: str, data: str, ttl: str | None, apps_only: bool,
         now: datetime | None = None) -> CopyPlan:
    now = now or datetime.now(timezone.utc)
    ns = copy_namespace(source_namespace, name)
    if data not in DATA_KINDS and not Path(data).is_file():
        raise UsageError(f"--data {data!r}: latest, sample, none or a backup file")
    expires = parse_ttl(ttl, now)
    if resources.get(kube, "v1", "Namespace", ns) is not None:
        raise UsageError(f"namespace {ns} already exists: `tripgenctl env delete {name}` first, or pick another name")
    database = f"tripgen_{name.replace('-', '_')}" if apps_only else None
    redis_db = _redis_index(kube, source_namespace) if apps_only else None
    objects = render(source_namespace, ns, cfg.profile, apps_only, database, redis_db, cfg)
    cap = capacity(kube, objects)
    return CopyPlan(name, source, source_namespace, ns, kube.context_name, data, apps_only,
                    format_time(expires) if expires else None, cap,
                    [f"{o['kind'].lower()}/{o['metadata']['name']}" for o in objects], database, redis_db)


def _in(kube, namespace: str):
    return dataclasses.replace(kube, namespace=namespace, calls=[])


def _namespace_object(p: CopyPlan, owner: str) -> dict:
    annotations = {APPS_ONLY_ANNOTATION: f"{p.source_namespace}/{p.database}/{p.redis_db}"} if p.apps_only else {}
    if p.expires:
        annotations[EXPIRES_ANNOTATION] = p.expires
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": p.namespace, "annotations": annotations,
                         "labels": {ENV_LABEL: p.name, SOURCE_LABEL: p.source_namespace, OWNER_LABEL: _label_value(owner),
                                    "app.kubernetes.io/managed-by": "tripgenctl"}}}


def _label_value(text: str) -> str:
    value = re.sub(r"[^A-Za-z0-9_.-]", "-", text)[:63].strip("-_.")
    return value or "unknown"


def copy_secrets(kube, source_namespace: str, namespace: str) -> list[str]:
    from tripgenctl.ops import secrets

    copied = []
    for spec in secrets.SPECS:
        obj = resources.get(kube, "v1", "Secret", spec.name, source_namespace)
        if obj is None:
            continue
        meta = obj.get("metadata") or {}
        resources.apply(kube, {"apiVersion": "v1", "kind": "Secret", "type": obj.get("type", "Opaque"),
                           "metadata": {"name": spec.name, "namespace": namespace, "labels": meta.get("labels") or {}},
                           "data": obj.get("data") or {}})
        copied.append(spec.name)
    return copied


def create(kube, cfg, p: CopyPlan, owner: str, backup_dir: Path, timeout: float = 300.0,
           say: Callable[[str], None] = lambda _: None) -> CopyResult:
    """Make the copy the plan describes. The plan was confirmed by the caller."""
    from tripgenctl.ops import deploy

    if not p.capacity.fits:
        raise ProblemFound(capacity_refusal(p))
    source = _in(kube, p.source_namespace)
    backup_file = _data_file(p, backup_dir)
    objects = render(p.source_namespace, p.namespace, cfg.profile, p.apps_only, p.database, p.redis_db, cfg)
    namespace = _namespace_object(p, owner)
    for manifest in [o for o in objects if o["kind"] == "Namespace"]:  # one apply: the copy's labels and the manifest's
        objects.remove(manifest)
        for part in ("labels", "annotations"):
            namespace["metadata"][part] = {**(manifest["metadata"].get(part) or {}), **namespace["metadata"].get(part, {})}
    resources.apply(kube, namespace)
    copy = _in(kube, p.namespace)
    say(f"namespace/{p.namespace}: created (owner {owner}, source {p.source_namespace}, expires {p.expires or 'never'})")
    say(f"secrets copied from {p.source_namespace}: {', '.join(copy_secrets(kube, p.source_namespace, p.namespace))}")
    if p.apps_only:  # the data first: the apps start against a database that is already there
        resources.apply(source, reach_policy(p.source_namespace, p.namespace, cfg))
        counts = _fill_shared(source, p, backup_file)
        deploy.apply_all(copy, objects)
    else:
        deploy.apply_all(copy, objects)
        counts = _fill_own(copy, cfg, p, backup_file, backup_dir, timeout)
    say(f"data: {p.data} ({sum(counts.values())} rows in {len(counts)} tables)" if counts else f"data: {p.data}")
    schedule_note = copy_schedule(kube, cfg, p.source_namespace, p.namespace)
    say(schedule_note)
    names: dict[str, set[str]] = {k: set() for k in deploy.WORKLOAD_KINDS}
    for obj in objects:
        if obj["kind"] in names:
            names[obj["kind"]].add(obj["metadata"]["name"])
    rollout = deploy.wait_rollout(copy, p.namespace, names, timeout=timeout)
    not_ready = [w.workload for w in rollout if not w.done]
    message = f"{len(rollout)} workloads ready" if not not_ready else f"not ready after {timeout:g}s: {', '.join(not_ready)}"
    return CopyResult(p.name, p.namespace, p.source, p.data, p.apps_only, p.expires, not not_ready, message, counts or {})


def copy_schedule(kube, cfg, source_namespace: str, namespace: str) -> str:
    """The source's night/weekend schedule for the copy too (its CronJobs, same image and times,
    acting on the copy's namespace), so a forgotten copy sleeps when the environment does."""
    from tripgenctl.ops import deploy, schedule

    job = resources.get(kube, "batch/v1", "CronJob", schedule.DOWN_JOB, source_namespace)
    if job is None:
        return f"schedule: {source_namespace} has none installed, so neither has the copy"
    containers = job["spec"]["jobTemplate"]["spec"]["template"]["spec"].get("containers") or [{}]
    notify = resources.get(kube, "v1", "Secret", schedule.NOTIFY_SECRET, source_namespace)
    url = None
    if notify is not None:
        import base64

        url = base64.b64decode(((notify.get("data") or {}).get("url") or "")).decode(errors="replace")
    deploy.apply_all(_in(kube, namespace), schedule.render(cfg, namespace, containers[0].get("image"), notify_url=url or ""))
    return f"schedule: the source's CronJobs installed in {namespace} ({cfg.schedule.down_time} down, {cfg.schedule.up_time} up, {cfg.schedule.days})"


def capacity_refusal(p: CopyPlan) -> str:
    c = p.capacity
    hint = "" if p.apps_only else "; --apps-only shares the source's PostgreSQL and Redis and needs less"
    return (f"not enough room for {p.namespace}: it requests {c.requested_cpu} CPU and {c.requested_memory} memory, "
            f"the nodes have {c.free_cpu} CPU and {c.free_memory} memory free{hint}")


def newest_verified(backup_dir: Path, namespace: str) -> Path | None:
    """The newest backup of `namespace` whose bytes still match its recorded sha256."""
    from tripgenctl.ops import archive, backup, catalog

    for entry in reversed(catalog.list_backups(backup_dir)):
        if entry.namespace != namespace or entry.state not in ("recorded", "verified"):
            continue
        path = backup_dir / entry.file
        meta = backup.read_metadata(path)
        if meta is not None and archive.sha256_file(path) == meta.sha256:
            return path
    return None


def _data_file(p: CopyPlan, backup_dir: Path) -> Path | None:
    if p.data == "latest":
        newest = newest_verified(backup_dir, p.source_namespace)
        if newest is None:
            raise ProblemFound(f"--data latest: no verified backup of {p.source_namespace} in {backup_dir} "
                               f"(take one: tripgenctl --env {p.source} db backup)")
        return newest
    if p.data in ("sample", "none"):
        return None
    return Path(p.data)


def _fill_own(copy, cfg, p: CopyPlan, backup_file: Path | None, backup_dir: Path, timeout: float) -> dict[str, int]:
    from tripgenctl.ops import data, deploy, postgres, restore

    if p.data == "none":
        return {}
    pg = {"StatefulSet": {cfg.workloads.postgres}}
    if not all(w.done for w in deploy.wait_rollout(copy, p.namespace, pg, timeout=timeout)):
        raise ToolError(f"{cfg.workloads.postgres} in {p.namespace} did not become ready within {timeout:g}s; the copy has no data yet")
    if backup_file is None:
        data.init(copy, cfg.profile, timeout=timeout)
    else:
        _roles_for(copy, _in(copy, p.source_namespace), backup_file)
        # a fresh server lacks the source's roles: a custom archive's GRANTs are left out (the
        # copy's apps log in as the Secret's user), a plain file's roles are made first
        restore.restore(copy, backup_file, backup_dir, safety_backup=False, allow_other_target=True, no_privileges=True)
    return postgres.table_counts(copy, postgres.credentials(copy).database)


ROLE_IN_GRANT = re.compile(rb"^(?:GRANT|REVOKE)\b[^;]*?\b(?:TO|FROM)\s+\"?([A-Za-z_][A-Za-z0-9_]*)\"?", re.M)


def _roles_for(copy, source, backup_file: Path) -> list[str]:
    """Roles the restore will name that the fresh server lacks, created NOLOGIN (passwords are
    not copied). From the source server while it runs; a plain file's GRANTs are read too."""
    from tripgenctl.ops import archive, postgres

    wanted: set[str] = set()
    try:
        wanted |= {r[0] for r in postgres.psql(source, "SELECT rolname FROM pg_roles WHERE rolname !~ '^pg_' AND NOT rolsuper", "postgres")}
    except ToolError:
        pass  # the source's PostgreSQL is asleep too
    if archive.detect_format(backup_file) == "plain":
        with open(backup_file, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 22), b""):
                wanted |= {m.decode() for m in ROLE_IN_GRANT.findall(chunk)}
    have = {r[0] for r in postgres.psql(copy, "SELECT rolname FROM pg_roles", "postgres")}
    missing = sorted(wanted - have)
    for role in missing:
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", role):
            postgres.psql(copy, f'CREATE ROLE "{role}" NOLOGIN', "postgres")
    return missing


def _fill_shared(source, p: CopyPlan, backup_file: Path | None) -> dict[str, int]:
    from tripgenctl.ops import postgres, restore

    if backup_file is not None:
        restore.restore(source, backup_file, Path("."), into=p.database, safety_backup=False, allow_other_target=True)
    else:
        postgres.psql(source, f'CREATE DATABASE "{p.database}"', "postgres")
        if p.data == "sample":
            _load_sample(source, p.database)
    return postgres.table_counts(source, p.database) if p.data != "none" else {}


def _load_sample(source, database: str) -> None:
    """schema.sql and the sample files straight into the copy's own database (the data-init Jobs
    load the environment's default database, not another one)."""
    from tripgenctl.kube import execstream
    from tripgenctl.ops import data, postgres
    from tripgenctl.packaged import sql_dir as validation_sql_dir

    base = validation_sql_dir()
    for name in ["schema.sql", *data.CONFIGMAPS["sample-data-scripts"]]:
        path = base / name
        script = postgres.ENV_PRELUDE + 'exec psql -X -q -v ON_ERROR_STOP=1 -U "$U" -d "$1" -o /dev/null -f -'
        session = execstream.open_exec(source, postgres.pod_name(source), ["sh", "-c", script, "sh", database], stdin=True)
        result = session.pump(stdin=iter([path.read_bytes()]))
        if result.exit_code != 0:
            raise ToolError(f"loading {name} into {database} failed: {postgres.error_summary(result.stderr_text(), name)}")


def expired(namespace: dict, now: datetime) -> bool:
    when = parse_time(((namespace.get("metadata") or {}).get("annotations") or {}).get(EXPIRES_ANNOTATION) or "")
    return bool(when and when <= now)


def find_copy(cfg, name: str, kubeconfig: str | None, context: str | None) -> str | None:
    """The namespace of the copy called `name` in the (default) environment's cluster, or None."""
    from tripgenctl.kube.client import connect

    env_context = cfg.environments[cfg.environment].context if cfg.environment else None
    kube = connect(kubeconfig=kubeconfig, context=context or env_context, namespace=cfg.namespace)
    found = resources.items(kube, "v1", "Namespace", selector={ENV_LABEL: name})
    return found[0]["metadata"]["name"] if found else None


# ---- delete and gc ----------------------------------------------------------------------------
@dataclass
class Removal:
    __table__ = ("name", "namespace", "expires", "safety_backup", "result")
    name: str
    namespace: str
    expires: str
    safety_backup: str | None = None
    result: str = "planned"
    shared: str | None = None  # apps-only: "<source ns>/<database>" dropped with it


@dataclass
class RemovalResult:
    dry_run: bool
    removed: list[Removal] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.result in ("planned", "deleted") for r in self.removed)


def removal(ns: dict) -> Removal:
    meta = ns.get("metadata") or {}
    shared = (meta.get("annotations") or {}).get(APPS_ONLY_ANNOTATION)
    return Removal((meta.get("labels") or {}).get(ENV_LABEL, meta["name"]), meta["name"],
                   (meta.get("annotations") or {}).get(EXPIRES_ANNOTATION, "never"),
                   shared="/".join(shared.split("/")[:2]) if shared else None)


def plan_delete(kube, name: str) -> Removal:
    found = resources.items(kube, "v1", "Namespace", selector={ENV_LABEL: name})
    if not found:
        raise UsageError(f"no copy called {name!r} in {kube.context_name} (tripgenctl env list)")
    return removal(found[0])


def plan_gc(kube, now: datetime | None = None) -> list[Removal]:
    now = now or datetime.now(timezone.utc)
    return [removal(ns) for ns in copies(kube) if expired(ns, now)]


def delete(kube, r: Removal, safety_backup: str | None) -> Removal:
    """The namespace (and, apps-only, its database and reach policy in the source), after the
    safety contract's backup (`safety_backup`, taken by the caller's Gate). Waits for nothing: the
    namespace finalises on its own."""
    from tripgenctl.ops import postgres

    r.safety_backup = Path(safety_backup).name if safety_backup else None
    if r.shared:
        source_ns, database = r.shared.split("/")
        postgres.psql(_in(kube, source_ns), f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)', "postgres")
        try:  # best effort, as the namespace's own delete below decides the result
            resources.delete(kube, "networking.k8s.io/v1", "NetworkPolicy", f"allow-copy-{r.namespace}"[:63], source_ns, propagation=None)
        except ToolError as exc:
            if resources.http_status(exc) is None:
                raise
    try:  # already gone counts as deleted
        resources.delete(kube, "v1", "Namespace", r.namespace, propagation=None)
        r.result = "deleted"
    except ToolError as exc:
        code = resources.http_status(exc)
        if code is None:
            raise
        r.result = f"failed ({code})"
    return r

"""`data init | validate | reset`: the runbook's k8s/data-init/ as one command that either ends
with a verified dataset or says exactly which Job failed and why.

init: wait (bounded) for PostgreSQL, refuse to touch a database that already holds sample data
unless forced, generate the two script ConfigMaps from sql/ (the only copy of the SQL), then run
the three Jobs strictly in order, stopping at the first that does not Complete.
validate: the checks of sql/checks.sql over psycopg through a port-forward to postgresql-0.
reset: DROP/CREATE schema public, init again. init --force and reset go through the safety
contract (ops/safety.py): a verified safety backup before any row goes."""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from tripgenctl import manifests
from tripgenctl.errors import ProblemFound, UsageError
from tripgenctl.ops import jobs, postgres, validation, waiting
from tripgenctl.ops.jobs import JobOutcome

# ConfigMap -> the sql/ files it carries (names as the Jobs' psql -f arguments use them)
CONFIGMAPS = {
    "database-init-scripts": ["schema.sql", "validate.sql"],
    "sample-data-scripts": ["users.sql", "locations.sql", "ai-test-data.sql"],
}
JOB_ORDER = ["database-schema-init", "sample-data-load", "data-validation"]
# tables whose rows mean "this database already holds the sample data"
DATA_TABLES = ["users", "locations", "places", "itineraries", "itinerary_templates", "user_preferences", "reviews", "seasonal_patterns"]
RESET_SQL = (
    "DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public; "
    "ALTER SCHEMA public OWNER TO pg_database_owner; GRANT USAGE ON SCHEMA public TO PUBLIC;"
)
Progress = Callable[[str], None]


@dataclass
class InitResult:
    namespace: str
    ok: bool
    message: str
    skipped: bool = False
    existing_rows: dict[str, int] = field(default_factory=dict)
    configmaps: list[str] = field(default_factory=list)
    jobs: list[JobOutcome] = field(default_factory=list)

    __sections__ = ("jobs",)

    @property
    def failed_job(self) -> JobOutcome | None:
        return next((j for j in self.jobs if not j.ok and j.status != "Not run"), None)


@dataclass
class ResetResult:
    namespace: str
    ok: bool
    message: str
    backup_file: str | None = None
    init: InitResult | None = None

    __sections__ = ()


# ---- pieces ---------------------------------------------------------------------------------------

def script_configmaps(namespace: str, sql_path: Path | None = None) -> list[dict]:
    """The two ConfigMaps, built from sql/ at apply time, with a content hash annotation so
    `kubectl get cm -o yaml` tells which revision of the SQL the Jobs ran."""
    base = sql_path or validation.sql_dir()
    out = []
    for name, files in CONFIGMAPS.items():
        data = {}
        for f in files:
            path = base / f
            if not path.is_file():
                raise UsageError(f"{path} not found (is --sql-dir / TRIPGENCTL_SQL the sql/ directory?)")
            data[f] = path.read_text()
        digest = hashlib.sha256("".join(f"{k}\0{v}\0" for k, v in sorted(data.items())).encode()).hexdigest()[:16]
        out.append({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {
                "name": name, "namespace": namespace,
                "labels": {"app.kubernetes.io/part-of": "tripgen", "app.kubernetes.io/managed-by": "tripgenctl",
                           "app.kubernetes.io/component": "data-init"},
                "annotations": {"tripgenctl.io/sql-sha256": digest},
            },
            "data": data,
        })
    return out


def ordered_jobs(namespace: str, profile: str | None = None, config=None) -> list[dict]:
    objects = manifests.render(namespace, profile, subdir="data-init", config=config)
    by_name = {o["metadata"]["name"]: o for o in objects if o.get("kind") == "Job"}
    missing = [n for n in JOB_ORDER if n not in by_name]
    if missing:
        raise UsageError(f"manifests/data-init/ lacks the Job(s) {', '.join(missing)}")
    return [by_name[n] for n in JOB_ORDER]


def require_postgres(kube, timeout: float, on_update: Progress | None = None) -> None:
    """Wait (by watch) for postgresql-0 to be Ready; a clear timeout instead of a hang when the
    StatefulSet is scaled to 0 or the pod never comes up."""
    pod = postgres.pod_name(kube)
    if on_update:
        on_update(f"waiting for pod {pod} to be Ready (timeout {timeout:g}s)")
    if waiting.wait_pod_condition(kube, pod, "Ready", timeout) is None:
        raise ProblemFound(
            f"timed out after {timeout:g}s waiting for PostgreSQL: pod {pod} in namespace {kube.namespace} is not Ready "
            f"(scaled to 0? run `tripgenctl up`); no Job was started")


def require_secret(kube) -> None:
    from tripgenctl.kube.secrets import Secret

    if Secret.get(kube, postgres.SECRET, missing_ok=True) is None:
        raise ProblemFound(f"Secret {postgres.SECRET} not found in {kube.namespace}: run `tripgenctl secrets init -n {kube.namespace}` first")


def existing_rows(kube, database: str) -> dict[str, int]:
    """Row counts of the sample tables that exist and are not empty (two psql calls in the pod;
    plain SQL, no query_to_xml, which needs a libxml build)."""
    names = ", ".join(f"'{t}'" for t in DATA_TABLES)
    present = [r[0] for r in postgres.psql(kube, f"SELECT t FROM unnest(ARRAY[{names}]) t WHERE to_regclass('public.' || t) IS NOT NULL", database)]
    if not present:
        return {}
    query = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM public.{t}" for t in present)
    counts = {name: int(n) for name, n in postgres.psql(kube, query, database)}
    return {t: counts[t] for t in DATA_TABLES if counts.get(t)}


# ---- commands ------------------------------------------------------------------------------------

def init(kube, profile: str | None = None, force: bool = False, timeout: float = 300.0, sql_path: Path | None = None,
         on_update: Progress | None = None, gate=None) -> InitResult | None:
    """Without --force a database that holds sample data is left alone (nothing is destroyed, so
    no question). With --force the run goes through the safety contract (`gate`, ops/safety.py):
    target guard, the plan (every table's rows that go), --dry-run, the question, a verified
    safety backup, the Jobs, the trail. None for a dry run."""
    namespace = kube.namespace
    if force and gate is not None:
        gate.guard(kube, "data init --force")
    configmaps = script_configmaps(namespace, sql_path)  # bad --sql-dir fails before touching anything
    job_objects = ordered_jobs(namespace, profile, kube.config)
    require_secret(kube)
    require_postgres(kube, timeout, on_update)
    database = postgres.credentials(kube).database
    rows = existing_rows(kube, database)
    if rows and not force:
        summary = ", ".join(f"{t} {n}" for t, n in rows.items())
        return InitResult(namespace, True, f"already initialised ({summary}); nothing done. Use --force to drop and reload the sample data",
                          skipped=True, existing_rows=rows)
    if gate is None:  # the caller (reset) went through the contract already
        return _load(kube, configmaps, job_objects, InitResult(namespace, True, "", existing_rows=rows), timeout, on_update)
    from tripgenctl.ops.safety import Change, Plan

    plan = Plan("data init --force", kube.context_name, namespace, database=database, overwrites_rows=bool(rows), destructive=bool(rows),
                _backup_prefix="pre-init",
                changes=[Change(f"table {t}", f"{n} rows deleted, the sample data reloaded") for t, n in rows.items()]
                or [Change("database " + database, "no sample data yet: schema and sample data loaded")])
    return gate.perform(kube, plan, lambda _backup: _load(kube, configmaps, job_objects, InitResult(namespace, True, "", existing_rows=rows), timeout, on_update),
                        outcome=lambda r: (r.ok, r.message))


def _load(kube, configmaps: list[dict], job_objects: list[dict], result: InitResult, timeout: float, on_update: Progress | None) -> InitResult:
    for cm in configmaps:
        kube.apply_object(cm)
        result.configmaps.append(cm["metadata"]["name"])
        if on_update:
            on_update(f"configmap/{cm['metadata']['name']}: applied from sql/ ({', '.join(cm['data'])})")
    for i, job in enumerate(job_objects):
        outcome = jobs.run_job(kube, job, timeout, on_update)
        result.jobs.append(outcome)
        if on_update:
            on_update(f"job/{outcome.job}: {outcome.status}" + (f" ({outcome.reason})" if outcome.reason else "") + f" after {outcome.seconds:g}s")
        if not outcome.ok:
            result.jobs.extend(JobOutcome(j["metadata"]["name"], "Not run", reason=f"stopped after {outcome.job} {outcome.status.lower()}")
                               for j in job_objects[i + 1:])
            result.ok = False
            result.message = f"job {outcome.job} {outcome.status.lower()}: {outcome.reason}"
            return result
    result.message = f"schema created, sample data loaded and validated ({len(job_objects)} Jobs complete)"
    return result


def validate(kube, expect_sample: bool = False) -> validation.ValidationReport:
    from tripgenctl import pg

    with pg.session(kube, application_name="tripgenctl-validate") as s:
        return validation.validate_session(s, s.database, target=f"{kube.namespace}/{postgres.pod_name(kube)}", expect_sample=expect_sample)


def backup_available() -> bool:
    return importlib.util.find_spec("tripgenctl.ops.backup") is not None


def reset(kube, gate, profile: str | None = None, timeout: float = 300.0, sql_path: Path | None = None,
          on_update: Progress | None = None) -> ResetResult | None:
    """Through the safety contract (ops/safety.py): guard, plan (every table of schema public
    with its rows), --dry-run, question, verified safety backup (unless --no-safety-backup),
    then DROP/CREATE schema public and init from scratch, trail. None for a dry run."""
    from tripgenctl.ops.safety import Change, Plan

    gate.guard(kube, "data reset")
    namespace = kube.namespace
    configmaps = script_configmaps(namespace, sql_path)
    job_objects = ordered_jobs(namespace, profile, kube.config)
    require_secret(kube)
    require_postgres(kube, timeout, on_update)
    creds = postgres.credentials(kube)
    counts = postgres.table_counts(kube, creds.database)
    changes = [Change(f"table {t}", f"dropped ({n} rows)") for t, n in sorted(counts.items())]
    changes.append(Change("schema public", "recreated; schema and sample data loaded again"))
    plan = Plan("data reset", kube.context_name, namespace, changes, database=creds.database, overwrites_rows=True, _backup_prefix="pre-reset")

    def work(backup_file: str | None) -> ResetResult:
        if on_update:
            on_update(f"dropping and recreating schema public in {creds.database}")
        postgres.psql(kube, RESET_SQL, creds.database)
        result = _load(kube, configmaps, job_objects, InitResult(namespace, True, ""), timeout, on_update)
        message = ("backup " + backup_file + "; " if backup_file else "") + "schema public recreated; " + result.message
        return ResetResult(namespace, result.ok, message, backup_file, result)

    return gate.perform(kube, plan, work, outcome=lambda r: (r.ok, r.message))

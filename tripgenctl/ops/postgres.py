"""Talking to the environment's PostgreSQL pod through the exec API: the credentials Secret,
queries with psql inside the pod (no port-forward, no password on any command line: the
container's own environment carries it), table row counts and versions.

Every wait on the server has a deadline ([timeouts] in the config): psql sessions get
`lock_timeout` and `statement_timeout`, pg_dump `--lock-wait-timeout`. pg_restore and plain dumps
reset both to 0 (the archive's own `SET lock_timeout = 0`), so long runs also start a watchdog in
the pod that names whoever blocks our sessions (pg_locks + pg_blocking_pids) and cancels a wait
or statement that outlives its deadline; `lock_message` turns its report into one line."""

from __future__ import annotations

import secrets as _secrets
from dataclasses import dataclass

from tripgenctl.errors import ToolError
from tripgenctl.kube import execstream
from tripgenctl.kube.pods import Pod
from tripgenctl.kube.secrets import Secret

CONTAINER = None  # the StatefulSet's only container


def pod_name(kube) -> str:
    """postgresql-0, or <configured StatefulSet>-0 (the run's config, carried by the connection)."""
    return kube.config.workloads.postgres_pod

SECRET = "postgresql-secret"


@dataclass
class DbCredentials:
    username: str
    password: str
    database: str

    def __repr__(self) -> str:  # never show the password, not even in a traceback
        return f"DbCredentials(username={self.username!r}, database={self.database!r})"


def credentials(kube) -> DbCredentials:
    """The Secret's user, password and database (the image's defaults for keys left empty)."""
    secret = Secret.get(kube, SECRET)
    return DbCredentials(secret.value("username", "postgres"), secret.value("password", ""), secret.value("database", "tripgen"))


def require_ready(kube, pod: str | None = None) -> None:
    pod = pod or pod_name(kube)
    p = Pod.get(kube, pod)
    if p.phase != "Running" or not p.ready:
        raise ToolError(f"pod {pod} is not ready (phase {p.phase}); is PostgreSQL scaled down? try: tripgenctl up")


# Inside the pod: the official image's env (POSTGRES_USER/POSTGRES_PASSWORD) or bitnami's.
ENV_PRELUDE = (
    'U="${POSTGRES_USER:-${POSTGRESQL_USERNAME:-postgres}}"; '
    'export PGPASSWORD="${POSTGRES_PASSWORD:-${POSTGRESQL_PASSWORD:-}}"; '
)


def limits(kube):
    """The configured deadlines (tripgenctl.config.TimeoutsConfig) of the run's config."""
    return kube.config.timeouts


CONNECT_TIMEOUT = 10  # seconds for libpq to connect (a frozen server accepts and never answers)


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def session_env(app: str, lock_wait: float, statement: float) -> str:
    """Shell exports giving every libpq client of the script our application_name (so the
    watchdog finds our sessions) and the server-side deadlines. Only digits and [a-z0-9-]."""
    return (f"export PGAPPNAME='{app}' PGCONNECT_TIMEOUT={CONNECT_TIMEOUT} "
            f"PGOPTIONS='-c lock_timeout={_ms(lock_wait)} -c statement_timeout={_ms(statement)}'; ")


def application_name(action: str) -> str:
    return f"tripgenctl-{action}-{_secrets.token_hex(4)}"


def watch_sql(app: str, lock_wait: float, statement: float) -> str:
    """One poll of the watchdog: who blocks a session named `app` (pid, user, application,
    state, since, seconds waited), and cancel waits longer than `lock_wait` and statements
    running longer than `statement` seconds. Prints nothing while all is well."""
    return f"""
WITH w AS (
  SELECT l.pid, min(coalesce(l.waitstart, now())) AS since
  FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
  WHERE NOT l.granted AND a.application_name = '{app}' GROUP BY l.pid
), b AS (
  SELECT w.pid AS waiter, w.since, unnest(pg_blocking_pids(w.pid)) AS pid FROM w
), c AS (
  SELECT w.pid, pg_cancel_backend(w.pid) AS done FROM w WHERE now() - w.since > make_interval(secs => {lock_wait})
), s AS (
  SELECT a.pid, extract(epoch FROM now() - a.query_start)::int AS ran, pg_cancel_backend(a.pid) AS done
  FROM pg_stat_activity a WHERE a.application_name = '{app}' AND a.state = 'active' AND a.wait_event_type IS DISTINCT FROM 'Lock'
    AND a.query_start < now() - make_interval(secs => {statement})
)
SELECT 'TRIPGENCTL-BLOCKER ' || concat_ws(E'\t', b.pid, coalesce(a.usename, '-'), coalesce(nullif(a.application_name, ''), '-'),
  coalesce(a.state, '-'), coalesce(to_char(coalesce(a.xact_start, a.backend_start) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), '-'),
  extract(epoch FROM now() - b.since)::int)
FROM b LEFT JOIN pg_stat_activity a ON a.pid = b.pid
UNION ALL SELECT 'TRIPGENCTL-LOCKCANCEL ' || c.pid FROM c WHERE c.done
UNION ALL SELECT 'TRIPGENCTL-SLOW ' || s.pid || E'\t' || s.ran FROM s WHERE s.done
"""


def watchdog(lock_wait: float) -> str:
    """Shell functions: `tg_start` starts the watchdog in the background (it polls while the
    script's shell lives; its report goes to the script's stderr as TRIPGENCTL- lines), after U,
    DB and TG_WATCH (the watch_sql text) are set; `tg_unwatch` stops it. Its `sleep` runs
    without fd 5 (the exec's stderr): a sleep left running after tg_unwatch would hold the
    stream open, and the exec (here or on a real kubelet) ends only when its streams close, a
    whole poll period after the work was done."""
    poll = min(1.0, max(0.2, lock_wait / 5))
    return (
        "exec 5>&2; tg_wp=; "
        "tg_watch() { while kill -0 $$ 2>/dev/null; do "
        "PGAPPNAME=tripgenctl-watch PGOPTIONS='-c statement_timeout=5000 -c lock_timeout=1000' "
        'psql -X -q -A -t -U "$U" -d "$DB" -c "$TG_WATCH" 2>/dev/null >&5; '
        f"sleep {poll:g} 5>&-; done; }}; "
        "tg_start() { tg_watch </dev/null >/dev/null 2>&1 & tg_wp=$!; }; "
        'tg_unwatch() { if [ -n "$tg_wp" ]; then kill "$tg_wp" 2>/dev/null; wait "$tg_wp" 2>/dev/null; tg_wp=; fi; }; '
    )


@dataclass
class Blocker:
    pid: str
    user: str
    application: str
    state: str
    since: str
    waited: int

    def text(self) -> str:
        return f"session pid {self.pid} (user {self.user}, application {self.application}, state {self.state}, since {self.since})"


def parse_watch(stderr: str) -> tuple[dict[str, Blocker], bool, list[str]]:
    """The watchdog's lines: the blockers last seen (by pid), whether it cancelled a lock
    wait, and the statements it cancelled for running too long (seconds ran)."""
    blockers: dict[str, Blocker] = {}
    cancelled_wait = False
    slow: list[str] = []
    for line in stderr.splitlines():
        if line.startswith("TRIPGENCTL-BLOCKER "):
            parts = line[len("TRIPGENCTL-BLOCKER "):].split("\t")
            if len(parts) >= 6:
                waited = int(parts[5]) if parts[5].strip().lstrip("-").isdigit() else 0
                blockers[parts[0]] = Blocker(parts[0], parts[1], parts[2], parts[3], parts[4], waited)
        elif line.startswith("TRIPGENCTL-LOCKCANCEL "):
            cancelled_wait = True
        elif line.startswith("TRIPGENCTL-SLOW "):
            slow.append(line.split("\t")[-1].strip())
    return blockers, cancelled_wait, slow


LOCK_SIGNS = ("lock timeout", "canceling statement due to user request")


def lock_message(stderr: str, lock_wait: float, statement: float) -> str | None:
    """One line when the failure was a deadline (a lock not granted in time, or a statement
    that ran too long), naming the blocking session(s); None for any other failure."""
    blockers, cancelled_wait, slow = parse_watch(stderr)
    low = stderr.lower()
    # pg_dump enforces --lock-wait-timeout with statement_timeout around its LOCK TABLEs: a
    # statement timeout on "Query was: LOCK TABLE" is a lock wait, not a slow statement.
    dump_lock_wait = "query was: lock table" in low
    if ("statement timeout" in low and not dump_lock_wait) or (slow and not cancelled_wait):
        return f"a statement ran longer than the {statement:g}s limit and was cancelled ([timeouts] statement)"
    if not (cancelled_wait or "lock timeout" in low or dump_lock_wait or (blockers and "canceling statement" in low)):
        return None
    relation = _locked_relation(stderr)
    on = f" on {relation}" if relation else ""
    if blockers:
        who = "; ".join(b.text() for b in blockers.values())
        return (f"waited {lock_wait:g}s for a lock{on}, blocked by {who}: end that session or retry when it is done "
                f"(the limit is [timeouts] lock_wait)")
    return f"a lock{on} was not granted within {lock_wait:g}s ([timeouts] lock_wait); the blocking session ended before it could be named"


def _locked_relation(stderr: str) -> str | None:
    import re

    m = re.search(r"(?:LOCK TABLE|DROP TABLE|TRUNCATE TABLE|ALTER TABLE|DROP SEQUENCE|DROP VIEW)(?:\s+IF EXISTS)?(?:\s+ONLY)?\s+([\w.\"]+)", stderr)
    return m.group(1).rstrip(";") if m else None


def holders_sql() -> str:
    """Sessions other than ours holding locks on user relations (for a psql that hit its
    lock_timeout: its own wait is over, so pg_blocking_pids can no longer answer)."""
    return """
SELECT 'TRIPGENCTL-BLOCKER ' || concat_ws(E'\t', a.pid, coalesce(a.usename, '-'), coalesce(nullif(a.application_name, ''), '-'), coalesce(a.state, '-'),
  coalesce(to_char(coalesce(a.xact_start, a.backend_start) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), '-'), 0)
FROM pg_stat_activity a
WHERE a.pid <> pg_backend_pid() AND a.application_name NOT LIKE 'tripgenctl-%' AND EXISTS (
  SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
  WHERE l.pid = a.pid AND l.granted AND l.locktype = 'relation' AND c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace))
ORDER BY a.xact_start LIMIT 3
"""


def psql(kube, sql: str, database: str, pod: str | None = None) -> list[list[str]]:
    """Rows of a query run with psql inside the pod (tab-separated, unaligned), within the
    configured lock and statement deadlines; a lock not granted in time names who holds it."""
    pod = pod or pod_name(kube)
    t = limits(kube)
    statement = min(t.statement, t.exec)
    script = ENV_PRELUDE + session_env(application_name("query"), t.lock_wait, statement) + \
        'exec psql -X -q -A -t -F "$(printf "\\t")" -v ON_ERROR_STOP=1 -U "$U" -d "$1" -c "$2"'
    res = execstream.run(kube, pod, ["sh", "-c", script, "sh", database, sql], timeout=t.exec + t.lock_wait,
                         what=f"psql in pod {pod}")
    if not res.ok:
        err = res.stderr_text()
        if "lock timeout" in err.lower():
            err += "\n" + _holders(kube, pod, database)
        why = lock_message(err, t.lock_wait, statement)
        raise ToolError(f"psql in {pod} failed: {why or last_line(err) or res.failure_message}")
    text = res.stdout.decode("utf-8", errors="replace")
    return [line.split("\t") for line in text.splitlines() if line]


# Exact counts in one round trip without query_to_xml (servers built without libxml, such as
# the pgserver wheel, lack it): a session-temporary function counts each table.
COUNTS_SQL = """
CREATE FUNCTION pg_temp.tripgenctl_count(r regclass) RETURNS bigint LANGUAGE plpgsql AS
$$DECLARE c bigint; BEGIN EXECUTE format('SELECT count(*) FROM %s', r) INTO c; RETURN c; END$$;
SELECT table_schema || '.' || table_name, pg_temp.tripgenctl_count(format('%I.%I', table_schema, table_name)::regclass)
FROM information_schema.tables
WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')
ORDER BY 1
"""


def _holders(kube, pod: str, database: str) -> str:
    """Best effort: the holders' report lines, or "" when even that cannot be read."""
    script = ENV_PRELUDE + "export PGOPTIONS='-c statement_timeout=5000'; " + 'exec psql -X -q -A -t -U "$U" -d "$1" -c "$2"'
    try:
        res = execstream.run(kube, pod, ["sh", "-c", script, "sh", database, holders_sql()], timeout=15)
    except ToolError:
        return ""
    return res.stdout.decode(errors="replace") if res.ok else ""


def table_counts(kube, database: str, pod: str | None = None) -> dict[str, int]:
    """Exact row counts of every user table, in one query."""
    return {name: int(count) for name, count in psql(kube, COUNTS_SQL, database, pod)}


def server_version(kube, database: str, pod: str | None = None) -> str:
    rows = psql(kube, "SHOW server_version", database, pod)
    return rows[0][0] if rows else "unknown"


def databases(kube, pod: str | None = None) -> list[str]:
    return [r[0] for r in psql(kube, "SELECT datname FROM pg_database WHERE NOT datistemplate ORDER BY 1", "postgres", pod)]


def last_line(text: str) -> str:
    lines = [l for l in text.strip().splitlines() if l.strip() and not l.startswith("TRIPGENCTL-")]
    return lines[-1].strip() if lines else ""


def error_summary(text: str, file: str | None = None, line_offset: int = 0) -> str:
    """psql's or pg_restore's stderr on one line: the server's ERROR with its DETAIL and the
    command pg_restore was running, and for psql the line of `file` where it failed (its input
    line minus the `line_offset` lines sent before the file). Else the last line."""
    import re

    lines = [" ".join(l.split()) for l in text.splitlines() if l.strip() and not l.startswith("TRIPGENCTL-")]
    for i, line in enumerate(lines):
        if "ERROR:" not in line:
            continue
        head, _, message = line.partition("ERROR:")
        out = f"ERROR: {message.strip()}"
        extras = [n for n in lines[i + 1:i + 4] if n.startswith("DETAIL:")]
        extras += [n[:200] for n in lines[i + 1:i + 6] if n.startswith("Command was:")]
        at = re.match(r"psql:[^:]*:(\d+):", head)
        if at and file and int(at.group(1)) > line_offset:
            extras.append(f"at line {int(at.group(1)) - line_offset} of {file}")
        return out + (f" ({'; '.join(extras)})" if extras else "")
    return last_line(text)

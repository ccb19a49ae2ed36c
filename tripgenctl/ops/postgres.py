"""Talking to the environment's PostgreSQL pod through the exec API: the credentials Secret,
queries with psql inside the pod (no port-forward, no password on any command line: the
container's own environment carries it), table row counts and versions."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from tripgenctl.errors import ToolError
from tripgenctl.kube import execstream
from tripgenctl.kube.client import call

CONTAINER = None  # the StatefulSet's only container


def pod_name() -> str:
    """postgresql-0, or <configured StatefulSet>-0."""
    from tripgenctl.config import load

    return load().workloads.postgres_pod

SECRET = "postgresql-secret"


@dataclass
class DbCredentials:
    username: str
    password: str
    database: str

    def __repr__(self) -> str:  # never show the password, not even in a traceback
        return f"DbCredentials(username={self.username!r}, database={self.database!r})"


def credentials(kube) -> DbCredentials:
    secret = call(lambda: kube.core.read_namespaced_secret(SECRET, kube.namespace), what=f"secret {SECRET}")
    data = secret.data or {}

    def get(key: str, default: str | None = None) -> str:
        if key in data and data[key]:
            return base64.b64decode(data[key]).decode()
        if default is None:
            raise ToolError(f"secret {SECRET} has no key {key!r}")
        return default

    return DbCredentials(get("username", "postgres"), get("password", ""), get("database", "tripgen"))


def require_ready(kube, pod: str | None = None) -> None:
    pod = pod or pod_name()
    p = call(lambda: kube.core.read_namespaced_pod(pod, kube.namespace), what=f"pod {pod}")
    ready = any(c.type == "Ready" and c.status == "True" for c in (p.status.conditions or []))
    if p.status.phase != "Running" or not ready:
        raise ToolError(f"pod {pod} is not ready (phase {p.status.phase}); is PostgreSQL scaled down? try: tripgenctl up")


# Inside the pod: the official image's env (POSTGRES_USER/POSTGRES_PASSWORD) or bitnami's.
ENV_PRELUDE = (
    'U="${POSTGRES_USER:-${POSTGRESQL_USERNAME:-postgres}}"; '
    'export PGPASSWORD="${POSTGRES_PASSWORD:-${POSTGRESQL_PASSWORD:-}}"; '
)


def psql(kube, sql: str, database: str, pod: str | None = None) -> list[list[str]]:
    """Rows of a query run with psql inside the pod (tab-separated, unaligned)."""
    pod = pod or pod_name()
    script = ENV_PRELUDE + 'exec psql -X -q -A -t -F "$(printf "\\t")" -v ON_ERROR_STOP=1 -U "$U" -d "$1" -c "$2"'
    res = execstream.run(kube, pod, ["sh", "-c", script, "sh", database, sql])
    if not res.ok:
        raise ToolError(f"psql in {pod} failed: {last_line(res.stderr_text()) or res.failure_message}")
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

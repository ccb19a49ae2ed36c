"""The PostgreSQL door: the one module that imports psycopg. Everything that talks SQL to the
environment's database from this process (validation, the smoke test after `up`) opens a
`Session` here: `address` (a port-forward to the database pod; the network inside the cluster)
with the Secret's credentials, or a given address; connect and statement deadlines on every
connection; errors as one-line ToolErrors with the password masked. (SQL that runs inside the pod, psql/pg_dump over exec, goes through
ops/postgres.py and never needs a driver.)"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

from tripgenctl.errors import ProblemFound, ToolError

CONNECT_TIMEOUT = 15  # seconds
STATEMENT_TIMEOUT_MS = 60_000


class ConnectFailed(ToolError):
    """The server could not be reached or refused the login."""


class QueryFailed(ToolError):
    """A statement failed; the message is the server's first error line."""


def first_line(exc: BaseException, secret: str | None = None) -> str:
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return text.replace(secret, "****") if secret else text


class Session:
    """One connection. `rows()` runs a statement in its own transaction, so one failing check
    does not abort the ones after it."""

    def __init__(self, conn: Any, secret: str | None = None):
        self._conn = conn
        self._secret = secret

    @property
    def database(self) -> str:
        return self._conn.info.dbname

    def rows(self, sql: str) -> list[tuple]:
        import psycopg

        try:
            with self._conn.transaction():
                with self._conn.cursor() as cur:
                    cur.execute(sql)
                    return cur.fetchall() if cur.description else []
        except psycopg.Error as exc:
            raise QueryFailed(first_line(exc, self._secret)) from None


@contextlib.contextmanager
def connect(host: str, port: int, user: str, password: str | None, database: str, application_name: str = "tripgenctl",
            connect_timeout: float = CONNECT_TIMEOUT, statement_timeout_ms: int | None = STATEMENT_TIMEOUT_MS,
            what: str | None = None) -> Iterator[Session]:
    import psycopg

    options = f"-c statement_timeout={int(statement_timeout_ms)}" if statement_timeout_ms else None
    try:
        conn = psycopg.connect(host=host, port=port, user=user, password=password or None, dbname=database,
                               connect_timeout=max(1, int(connect_timeout)), application_name=application_name, options=options)
    except psycopg.Error as exc:
        raise ConnectFailed(f"cannot connect to database {database}{' ' + what if what else ''}: {first_line(exc, password)}") from None
    with conn:
        yield Session(conn, password)


@contextlib.contextmanager
def address(kube, pod: str) -> Iterator[tuple[str, int]]:
    """Where a connection to the database pod goes -- the one place that knows. Outside the
    cluster (a person's kubeconfig) a port-forward to the pod, since ClusterIPs are not routable
    from a laptop. Inside it (the schedule's CronJobs) over the network as the apps do -- the
    PostgreSQL Service's ClusterIP, else the pod IP -- because the in-cluster Role grants no
    port-forward (a port-forward lands on the server's trusted localhost)."""
    from tripgenctl.kube.pods import Pod

    if kube.context_name != "in-cluster":
        with kube.port_forward(pod, 5432) as forwarded:
            yield forwarded
        return
    from tripgenctl.kube import resources

    service = pod.rsplit("-", 1)[0]
    for svc in resources.items(kube, "v1", "Service", kube.namespace):  # listed: the schedule's Role lists Services, no more
        ip = (svc.get("spec") or {}).get("clusterIP")
        if svc["metadata"]["name"] == service and ip and ip != "None":
            port = next((p.get("port") for p in svc["spec"].get("ports") or [] if p.get("targetPort") in (5432, "postgresql", None)), 5432)
            yield ip, int(port)
            return
    live = Pod.get(kube, pod, missing_ok=True)
    if live is None or not live.ip:
        raise ProblemFound(f"PostgreSQL in {pod} is Ready but has neither a Service {service} nor a pod IP to connect to")
    yield live.ip, 5432


@contextlib.contextmanager
def session(kube, application_name: str = "tripgenctl", database: str | None = None, pod: str | None = None,
            statement_timeout_ms: int | None = STATEMENT_TIMEOUT_MS, connect_timeout: float = CONNECT_TIMEOUT) -> Iterator[Session]:
    """A Session to the environment's database (through `address`: a port-forward to its pod
    from outside the cluster), logged in with the Secret's credentials (never shown)."""
    from tripgenctl.ops import postgres

    creds = postgres.credentials(kube)
    pod = pod or postgres.pod_name(kube)
    postgres.require_ready(kube, pod)
    via = f"through a port-forward to {pod}" if kube.context_name != "in-cluster" else f"to {pod}"
    with address(kube, pod) as (host, port):
        with connect(host, port, creds.username, creds.password, database or creds.database, application_name,
                     connect_timeout=connect_timeout, statement_timeout_ms=statement_timeout_ms, what=via) as s:
            yield s


def wrap(conn: Any) -> Session:
    """A Session over a connection made elsewhere (the tests' local PostgreSQL)."""
    return Session(conn)

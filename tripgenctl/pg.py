"""The PostgreSQL door: the one module that imports psycopg. Everything that talks SQL to the
environment's database from this process (validation, the smoke test after `up`) opens a
`Session` here: a port-forward to the database pod with the Secret's credentials, or a given
address; connect and statement deadlines on every connection; errors as one-line ToolErrors
with the password masked. (SQL that runs inside the pod, psql/pg_dump over exec, goes through
ops/postgres.py and never needs a driver.)"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

from tripgenctl.errors import ToolError

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
def session(kube, application_name: str = "tripgenctl", database: str | None = None, pod: str | None = None,
            statement_timeout_ms: int | None = STATEMENT_TIMEOUT_MS) -> Iterator[Session]:
    """A Session to the environment's database through a port-forward to its pod, logged in with
    the Secret's credentials (never shown)."""
    from tripgenctl.ops import postgres

    creds = postgres.credentials(kube)
    pod = pod or postgres.pod_name(kube)
    postgres.require_ready(kube, pod)
    with kube.port_forward(pod, 5432) as (host, port):
        with connect(host, port, creds.username, creds.password, database or creds.database, application_name,
                     statement_timeout_ms=statement_timeout_ms, what=f"through a port-forward to {pod}") as s:
            yield s


def wrap(conn: Any) -> Session:
    """A Session over a connection made elsewhere (the tests' local PostgreSQL)."""
    return Session(conn)

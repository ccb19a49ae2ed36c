"""docker-entrypoint.sh of the postgres image, for the sandbox: initialise PGDATA on first
start (POSTGRES_* or bitnami's POSTGRESQL_* variables), run /docker-entrypoint-initdb.d
scripts, then exec the real server. Run as a file by path (stdlib only) so the container's
process is this script and then, after exec, postgres itself.

PostgreSQL refuses to run as root: when euid is 0 every server binary runs under
`unshare --map-user=65534 --map-group=65534`, where root-owned files look like its own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HBA = """# managed by the tripgen sandbox (as the official image: local and localhost trust)
local   all all                 trust
host    all all 127.0.0.1/32    trust
host    all all ::1/128         trust
host    all all all             {method}
"""


def _env(*names: str, default: str | None = None) -> str | None:
    for name in names:
        if os.environ.get(name):
            return os.environ[name]
        file_var = os.environ.get(name + "_FILE")
        if file_var and Path(file_var).exists():
            return Path(file_var).read_text().rstrip("\n")
    return default


def main(argv: list[str]) -> int:
    bindir = Path(os.environ["TGSB_PG_BIN"])
    pgdata = Path(os.environ["TGSB_PGDATA"])
    sock = os.environ["TGSB_PG_SOCKET_DIR"]
    listen = os.environ["TGSB_PG_LISTEN"]
    port = os.environ.get("TGSB_PG_PORT", "5432")
    initdb_d = os.environ.get("TGSB_PG_INITDB_D", "")
    bitnami = os.environ.get("TGSB_PG_FLAVOR") == "bitnami"
    wrap = ["unshare", "--map-user=65534", "--map-group=65534"] if os.geteuid() == 0 else []
    if bitnami:
        user = _env("POSTGRESQL_USERNAME", "POSTGRES_USER", default="postgres")
        password = _env("POSTGRESQL_PASSWORD", "POSTGRES_PASSWORD")
        db = _env("POSTGRESQL_DATABASE", "POSTGRES_DB", default="postgres")
        trust = (os.environ.get("ALLOW_EMPTY_PASSWORD") or "").lower() == "yes"
    else:
        user = _env("POSTGRES_USER", default="postgres")
        password = _env("POSTGRES_PASSWORD")
        db = _env("POSTGRES_DB", default=user)
        trust = os.environ.get("POSTGRES_HOST_AUTH_METHOD") == "trust"
    if argv and argv[0] == "postgres":
        argv = argv[1:]
    Path(sock).mkdir(parents=True, exist_ok=True)
    pgdata.mkdir(parents=True, exist_ok=True)
    os.chmod(pgdata, 0o700)

    if not (pgdata / "PG_VERSION").exists():
        if not password and not trust:
            print(
                "Error: Database is uninitialized and superuser password is not specified.\n"
                "       You must specify POSTGRES_PASSWORD to a non-empty value for the\n"
                "       superuser. For example, \"-e POSTGRES_PASSWORD=password\" on \"docker run\".",
                file=sys.stderr, flush=True,
            )
            return 1
        pwfile = Path(sock) / ".pwfile"
        pwfile.write_text(password or "")
        pwfile.chmod(0o600)
        try:
            rc = subprocess.call(wrap + [str(bindir / "initdb"), "-D", str(pgdata), "-U", user, f"--pwfile={pwfile}", "-E", "UTF8", "--locale=C", "-A", "trust"])
        finally:
            pwfile.unlink(missing_ok=True)
        if rc != 0:
            return rc
        (pgdata / "pg_hba.conf").write_text(HBA.format(method="trust" if trust else "scram-sha-256"))
        # the setup-only server listens on a private socket directory: readiness probes (pg_isready on
        # the pod's socket) must not see it, or clients arrive while it restarts
        init_sock = str(Path(sock) / ".init")
        Path(init_sock).mkdir(exist_ok=True)
        temp = subprocess.Popen(wrap + [str(bindir / "postgres"), "-D", str(pgdata), "-c", "listen_addresses=", "-k", init_sock, "-p", port])
        try:
            deadline = time.monotonic() + 60
            while subprocess.call([str(bindir / "pg_isready"), "-q", "-h", init_sock, "-p", port, "-U", user, "-d", "postgres"]) != 0:
                if temp.poll() is not None or time.monotonic() > deadline:
                    print("error: the temporary server did not start", file=sys.stderr, flush=True)
                    return 1
                time.sleep(0.05)
            psql = [str(bindir / "psql"), "-v", "ON_ERROR_STOP=1", "--no-psqlrc", "-h", init_sock, "-p", port, "-U", user]
            if db != "postgres":
                ident = '"' + db.replace('"', '""') + '"'
                rc = subprocess.call(psql + ["-d", "postgres", "-q", "-c", f"CREATE DATABASE {ident}"])
                if rc != 0:
                    return rc
            if initdb_d and Path(initdb_d).is_dir():
                env = dict(os.environ, PGHOST=init_sock, PGPORT=port, PGUSER=user, PGDATABASE=db)
                # like the image's `for f in /docker-entrypoint-initdb.d/*`: dot entries (a ConfigMap
                # volume's ..data and ..<timestamp>) are not scripts
                for script in sorted(p for p in Path(initdb_d).iterdir() if not p.name.startswith(".")):
                    if script.suffix == ".sql":
                        print(f"/usr/local/bin/docker-entrypoint.sh: running {script}", flush=True)
                        rc = subprocess.call(psql + ["-d", db, "-f", str(script)], env=env)
                    elif script.suffix == ".sh":
                        print(f"/usr/local/bin/docker-entrypoint.sh: running {script}", flush=True)
                        rc = subprocess.call(["sh", str(script)], env=env)
                    else:
                        print(f"/usr/local/bin/docker-entrypoint.sh: ignoring {script}", flush=True)
                        rc = 0
                    if rc != 0:
                        return rc
        finally:
            if temp.poll() is None:
                temp.send_signal(signal.SIGINT)
                temp.wait()
        print("\nPostgreSQL init process complete; ready for start up.\n", flush=True)
    else:
        print("\nPostgreSQL Database directory appears to contain a database; Skipping initialization\n", flush=True)
    (pgdata / "pg_hba.conf").write_text(HBA.format(method="trust" if trust else "scram-sha-256"))
    cmd = wrap + [str(bindir / "postgres"), "-D", str(pgdata), "-c", f"listen_addresses={listen}", "-k", sock, "-p", port] + argv
    sys.stdout.flush()
    os.execvp(cmd[0], cmd)
    return 127  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

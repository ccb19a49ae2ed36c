"""`tripgenctl db backup` against a direct local pg_dump of the same database, in the same run:
builds a >= 500 MB database in the sandbox with pgbench, then prints
  - wall-time ratio backup / local pg_dump (target <= 1.3),
  - tripgenctl's peak RSS for a 50 MB and a 500 MB database (target: difference <= 20 MB).

    .venv/bin/python bench/backup.py [--small-scale 3] [--big-scale 35]
(pgbench scale 1 is ~15 MB of tables; 35 gives ~520 MB.)
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _sandbox import sandbox  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def tg(kubeconfig: Path, ns: str, *args: str) -> tuple[float, int]:
    """Run tripgenctl as a child; (seconds, peak RSS of the child in MB)."""
    env = dict(os.environ, KUBECONFIG=str(kubeconfig))
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "tripgenctl", "-n", ns, *args], env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"tripgenctl {' '.join(args)} failed")
    return elapsed, usage.ru_maxrss // 1024


def deploy_db(kubeconfig: Path, ns: str) -> None:
    env = dict(os.environ, KUBECONFIG=str(kubeconfig), POSTGRES_PASSWORD="bench-password", OPENAI_API_KEY="sk-bench",
               SERVICEBUS_CONNECTION_STRING="Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=a2V5")
    # Only the database matters here: the apps are scaled away so they do not compete for the CPU.
    for args in (["secrets", "init"], ["deploy", "--yes", "--no-wait"], ["down", "--yes"]):
        subprocess.run([sys.executable, "-m", "tripgenctl", "-n", ns, *args], env=env, check=True, stdout=subprocess.DEVNULL)


def wait_postgres(kube, timeout: float = 300) -> None:
    from tripgenctl.errors import ToolError
    from tripgenctl.ops import postgres

    deadline = time.monotonic() + timeout
    while True:
        try:
            postgres.require_ready(kube)
            return
        except ToolError:
            if time.monotonic() > deadline:
                raise SystemExit("postgresql-0 did not become ready")
            time.sleep(1)


def pgbench_init(kube, scale: int) -> None:
    from tripgenctl.kube import execstream

    res = execstream.run(kube, "postgresql-0", ["sh", "-c", f'pgbench -i -q -s {scale} -U "${{POSTGRES_USER:-postgres}}" "${{POSTGRES_DB:-tripgen}}"'], timeout=1800)
    if not res.ok:
        raise SystemExit(f"pgbench failed: {res.stderr_text()[-300:]}")


def local_dump_seconds(kube, out: Path) -> float:
    """Baseline: pg_dump run locally against the same server through a port-forward."""
    from tripgenctl.ops import archive, postgres

    creds = postgres.credentials(kube)
    pg_dump = Path(archive.pg_restore_candidates()[0]).with_name("pg_dump")
    with kube.port_forward("postgresql-0", 5432) as (host, port):
        env = dict(os.environ, PGPASSWORD=creds.password)
        start = time.perf_counter()
        subprocess.run([str(pg_dump), "-h", host, "-p", str(port), "-U", creds.username, "-Fc", "-f", str(out), creds.database], env=env, check=True)
        return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--small-scale", type=int, default=3)
    ap.add_argument("--big-scale", type=int, default=35)
    args = ap.parse_args()
    from tripgenctl.kube.client import connect

    results = {}
    with sandbox() as kubeconfig, tempfile.TemporaryDirectory() as tmp:
        for label, scale in (("small", args.small_scale), ("big", args.big_scale)):
            ns = f"bench-{label}"
            deploy_db(kubeconfig, ns)
            kube = connect(kubeconfig=str(kubeconfig), namespace=ns)
            wait_postgres(kube)
            pgbench_init(kube, scale)
            size_mb = int(postgres_size(kube)) // 2**20
            base = local_dump_seconds(kube, Path(tmp) / f"{label}-local.dump")
            secs, rss = tg(kubeconfig, ns, "db", "backup", "--backup-dir", str(Path(tmp) / label))
            results[label] = (size_mb, base, secs, rss)
            print(f"{label}: database {size_mb} MB; local pg_dump {base:.1f}s; tripgenctl db backup {secs:.1f}s; ratio {secs / base:.2f} (target <= 1.3); peak RSS {rss} MB")
    small, big = results["small"], results["big"]
    print(f"peak RSS difference 500 MB vs 50 MB database: {big[3] - small[3]} MB (target <= 20 MB)")


def postgres_size(kube) -> int:
    from tripgenctl.ops import postgres

    return int(postgres.psql(kube, "SELECT pg_database_size(current_database())", postgres.credentials(kube).database)[0][0])


if __name__ == "__main__":
    main()

"""`tripgenctl db backup` against a direct local pg_dump of the same database, in the same run,
and the team store's upload against the plain SDK's. Builds a ~50 MB and a ~530 MB database in
the sandbox with pgbench, then prints

  - the wall-time ratio `db backup` / local pg_dump at both sizes (median of the pairwise ratios
    of alternating runs; target <= 1.3 at both), and the CPU seconds of each;
  - tripgenctl's peak RSS for both sizes (target: difference <= 20 MB);
  - the --compress trade-off on the big database: dump size and `db backup` time per method
    (methods the pod's pg_dump lacks are shown as refused);
  - the upload of the big database's uncompressed dump to Azurite through tripgenctl's store
    (`Container.upload_file`: blocks staged four at a time, every block MD5-checked by the
    service, sha256 + MD5 of the file) against the plain SDK's `BlobClient.upload_blob` of the
    same file (target <= 1.2), and the store's whole `push` (upload, then the blob read back and
    re-hashed) for reference.

    .venv/bin/python bench/backup.py [--small-scale 3] [--big-scale 35] [--runs 3]
(pgbench scale 1 is ~15 MB of tables; 35 gives ~530 MB.)

Last run (2026-12-01 15:56, `--runs 3`, idle 2-core machine, at the commit that added the
VmHWM measure):

  small: database 52 MB (dump 0.8 MB); local pg_dump 0.59s (0.18s cpu); db backup 0.72s (0.41s cpu);
         ratio 1.21 (pairs 1.17, 1.51, 1.21); peak RSS 48 MB
  big:   database 530 MB (dump 9.4 MB); local pg_dump 3.28s (2.09s cpu); db backup 2.96s (0.71s cpu);
         ratio 0.91 (pairs 0.91, 0.89, 0.91); peak RSS 48 MB
  peak RSS difference big vs small database: 0 MB
  --compress, 530 MB database:  gzip:1 9.6 MB 2.4s | gzip (default) 9.4 MB 3.4s | gzip:9 9.2 MB 3.4s |
         none 341.9 MB 4.9s | lz4, zstd: refused (the sandbox's pgserver pg_dump is built with zlib only)
  upload of the 342 MB uncompressed dump to Azurite: SDK upload_blob 2.80s, tripgenctl store 2.03s,
         ratio 0.74; the store's whole push (upload, then read back and re-hashed) 3.93s

What moved the small ratio from 2.86 (measured the same day on the idle machine; an earlier
0.93 was measured at a load average of 45-60, which flattered it) to 1.21: every exec that
ran the lock watchdog ended up to one poll period (1 s) after its work, because the
watchdog's `sleep` kept the exec's stderr open (a real kubelet waits for the streams to close
too); the `kubernetes` package's __init__ (dynamic client, kubernetes-validate, jsonschema) is
no longer run (kube/sdk.py, ~60 ms); the process exits without the interpreter's module
teardown (cli/app.py finish, ~50 ms). The rest of the fixed cost is Python and its imports
(~0.38 s: typer, pydantic through typer and the SDK, the SDK's config loader) before the exec
starts; the exec itself runs ~0.1 s longer than the bare pg_dump (the snapshot export, counts
beside the dump, the remote hash).

The peak RSS was wait4's ru_maxrss before, which Linux charges with the parent's RSS at the
fork: the 31-35 MB "difference" earlier runs printed was this bench process growing between the
two sizes, not the tool (whose own VmHWM is flat).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _sandbox import sandbox  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CONN = "TRIPGENCTL_BACKUP_STORE_CONNECTION_STRING"
METHODS = ("gzip:1", "gzip", "gzip:9", "none", "lz4", "zstd")


def timed(cmd: list[str], env: dict) -> tuple[float, float, int, int, str]:
    """Run a child; (wall seconds, cpu seconds, peak RSS MB, exit code, stdout). The peak is
    the child's own VmHWM, read from /proc while it runs (the last reading before it exits):
    wait4's ru_maxrss is no measure here, Linux counts the parent's RSS at the fork into it
    (this process, which grows as the bench runs, made a flat tool look 35 MB bigger)."""
    peak = [0]

    def watch(pid: int, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                with open(f"/proc/{pid}/status") as fh:
                    line = next((x for x in fh if x.startswith("VmHWM:")), None)
                if line:
                    peak[0] = max(peak[0], int(line.split()[1]))
            except (OSError, ValueError):
                pass
            stop.wait(0.005)

    with tempfile.TemporaryFile() as errfile:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=errfile)
        stop = threading.Event()
        watcher = threading.Thread(target=watch, args=(proc.pid, stop), daemon=True)
        watcher.start()
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        stop.set()
        watcher.join()
        errfile.seek(0)
        err = errfile.read()
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_utime + usage.ru_stime, peak[0] // 1024, code, (out if code == 0 else err).decode(errors="replace")


def tg_cmd(ns: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "tripgenctl", "-n", ns, *args]


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


def postgres_size(kube) -> int:
    from tripgenctl.ops import postgres

    return int(postgres.psql(kube, "SELECT pg_database_size(current_database())", postgres.credentials(kube).database)[0][0])


def compare(kubeconfig: Path, kube, ns: str, tmp: Path, runs: int) -> dict:
    """Alternating runs: local pg_dump through a port-forward (opened before timing, as a
    person's `kubectl port-forward` would be), then `db backup`; ratios pair by pair."""
    from tripgenctl.ops import archive, postgres

    creds = postgres.credentials(kube)
    pg_dump = str(Path(archive.pg_restore_candidates()[0]).with_name("pg_dump"))
    env = dict(os.environ, KUBECONFIG=str(kubeconfig))
    rows = []
    with kube.port_forward("postgresql-0", 5432) as (host, port):
        local_env = dict(os.environ, PGPASSWORD=creds.password)
        for i in range(runs + 1):  # the first pair warms caches and is not counted
            base = timed([pg_dump, "-h", host, "-p", str(port), "-U", creds.username, "-Fc", "-f", str(tmp / f"{ns}-local.dump"), creds.database], local_env)
            ours = timed(tg_cmd(ns, "db", "backup", "--backup-dir", str(tmp / ns / str(i)), "-o", "json"), env)
            if base[3] or ours[3]:
                raise SystemExit(f"a run failed: pg_dump {base[3]} {base[4][-200:]}; db backup {ours[3]} {ours[4][-300:]}")
            if i:
                rows.append((base, ours))
    ratios = [o[0] / b[0] for b, o in rows]
    return {
        "ratio": statistics.median(ratios), "ratios": ratios,
        "base_wall": statistics.median(b[0] for b, _ in rows), "ours_wall": statistics.median(o[0] for _, o in rows),
        "base_cpu": statistics.median(b[1] for b, _ in rows), "ours_cpu": statistics.median(o[1] for _, o in rows),
        "rss": max(o[2] for _, o in rows), "dump_size": (tmp / f"{ns}-local.dump").stat().st_size,
    }


def compress_tradeoff(kubeconfig: Path, ns: str, tmp: Path) -> list[tuple[str, str]]:
    env = dict(os.environ, KUBECONFIG=str(kubeconfig))
    out = []
    for method in METHODS:
        wall, cpu, _, code, text = timed(tg_cmd(ns, "db", "backup", "--backup-dir", str(tmp / "compress"), "--compress", method, "-o", "json"), env)
        if code == 0:
            info = json.loads(text)
            out.append((method, f"{info['size'] / 2**20:8.1f} MB  {wall:6.1f}s  (recorded as {info['compression']})"))
        else:
            out.append((method, f"refused: {text.strip().splitlines()[-1][:140]}"))
    return out


def biggest_dump(tmp: Path) -> Path:
    dumps = sorted((tmp / "compress").glob("*.dump"), key=lambda p: p.stat().st_size)
    return dumps[-1]


def upload_compare(conn: str, path: Path, runs: int) -> dict:
    """tripgenctl's store upload against BlobClient.upload_blob of the same file, alternating."""
    from azure.storage.blob import BlobServiceClient

    from tripgenctl.azure.blobstore import Container
    from tripgenctl.ops import backup as backup_ops
    from tripgenctl.ops import store

    os.environ[CONN] = conn
    name = f"bench{int(time.time())}"
    service = BlobServiceClient.from_connection_string(conn)
    service.create_container(name)
    rows = []
    try:
        with Container("devstoreaccount1", name) as ours:
            for i in range(runs + 1):
                t = time.perf_counter()
                with open(path, "rb") as fh:
                    service.get_blob_client(name, f"sdk-{i}").upload_blob(fh, overwrite=True)
                sdk = time.perf_counter() - t
                t = time.perf_counter()
                ours.upload_file(path, f"store-{i}", {"bench": "1"})
                mine = time.perf_counter() - t
                if i:
                    rows.append((sdk, mine))
        info = backup_ops.read_metadata(path)
        t = time.perf_counter()
        store.push(path, info, store.StoreUrl("devstoreaccount1", name, "push"))
        push = time.perf_counter() - t
    finally:
        service.delete_container(name)
    return {"ratio": statistics.median(m / s for s, m in rows), "sdk": statistics.median(s for s, _ in rows),
            "store": statistics.median(m for _, m in rows), "push": push, "size": path.stat().st_size}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--small-scale", type=int, default=3)
    ap.add_argument("--big-scale", type=int, default=35)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    from tripgen_sandbox import control

    from tripgenctl.kube.client import connect

    state = Path(tempfile.mkdtemp(prefix="tg-bench-backup-"))
    results = {}
    try:
        with sandbox(keep=str(state)) as kubeconfig, tempfile.TemporaryDirectory() as tmpdir:
            tmp = Path(tmpdir)
            for label, scale in (("small", args.small_scale), ("big", args.big_scale)):
                ns = f"bench-{label}"
                deploy_db(kubeconfig, ns)
                kube = connect(kubeconfig=str(kubeconfig), namespace=ns)
                wait_postgres(kube)
                pgbench_init(kube, scale)
                results[label] = dict(compare(kubeconfig, kube, ns, tmp, args.runs), size_mb=postgres_size(kube) // 2**20)
                r = results[label]
                print(f"{label}: database {r['size_mb']} MB (dump {r['dump_size'] / 2**20:.1f} MB); local pg_dump {r['base_wall']:.2f}s "
                      f"({r['base_cpu']:.2f}s cpu); db backup {r['ours_wall']:.2f}s ({r['ours_cpu']:.2f}s cpu); "
                      f"ratio {r['ratio']:.2f} (pairs {', '.join(f'{x:.2f}' for x in r['ratios'])}; target <= 1.3); peak RSS {r['rss']} MB", flush=True)
            print(f"peak RSS difference big vs small database: {results['big']['rss'] - results['small']['rss']} MB (target <= 20 MB)", flush=True)
            print(f"--compress trade-off, database of {results['big']['size_mb']} MB (size, db backup wall time):", flush=True)
            for method, text in compress_tradeoff(kubeconfig, "bench-big", tmp):
                print(f"  {method:7s} {text}", flush=True)
            control.azure_start(state)
            conn = control.azure_env(state)[CONN]
            path = biggest_dump(tmp)
            u = upload_compare(conn, path, args.runs)
            print(f"upload of {path.name} ({u['size'] / 2**20:.0f} MB) to Azurite: SDK upload_blob {u['sdk']:.2f}s; tripgenctl store {u['store']:.2f}s; "
                  f"ratio {u['ratio']:.2f} (target <= 1.2); the store's whole push with its read-back {u['push']:.2f}s", flush=True)
    finally:
        with contextlib.suppress(Exception):
            control.azure_stop(state)
        control.reset(state)


if __name__ == "__main__":
    main()

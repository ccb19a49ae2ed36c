"""Deadlines on every wait of `db` and `cache`, through the real CLI against the sandbox: a table
lock held by another session stops `db backup` within the configured lock wait and names that
session; an application transaction blocking `db restore` likewise (and the restore rolls back);
`cache flush` against a frozen Redis (`sandbox fault freeze`, SIGSTOP) gives one line and exit 1
within the redis deadline; bad [timeouts] values are refused."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import cli, deploy_stateful, psql, secrets_init

LOCK_WAIT = 4  # seconds, written to the test's config
HOLDER = "lock-holder"


def config(tmp_path: Path, **timeouts) -> dict[str, str]:
    path = tmp_path / "tripgenctl.toml"
    path.write_text("[timeouts]\n" + "".join(f"{k} = {v!r}\n".replace("'", '"') for k, v in timeouts.items()))
    return {"TRIPGENCTL_CONFIG": str(path)}


def one_error_line(r: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in r.stderr and "Exception" not in r.stderr, r.stderr
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, r.stderr
    return lines[0]


class Holder:
    """Another session (application_name lock-holder) that runs `sql` in an open transaction
    and keeps it open until closed, like an application holding a lock."""

    def __init__(self, sandbox, ns: str, sql: str, mode: str):
        self.sandbox, self.ns = sandbox, ns
        self.proc = subprocess.Popen(
            [sandbox.kubectl_path(), "exec", "-i", "postgresql-0", "-n", ns, "--", "psql", "-X", "-q",
             f"dbname=tripgen user=postgres application_name={HOLDER}"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=sandbox.env())
        self.proc.stdin.write(f"BEGIN; {sql};\n".encode())
        self.proc.stdin.flush()
        deadline = time.monotonic() + 60
        query = (f"SELECT a.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE a.application_name = '{HOLDER}' "
                 f"AND l.granted AND l.mode = '{mode}' AND l.relation = 'public.users'::regclass AND a.state = 'idle in transaction'")
        while True:
            self.pid = psql(sandbox, ns, query)
            if self.pid:
                break
            assert self.proc.poll() is None, self.proc.stderr.read()
            assert time.monotonic() < deadline, "the holder never got its lock"
            time.sleep(0.2)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.write(b"ROLLBACK;\n\\q\n")
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def pg(sandbox, namespace):
    secrets_init(sandbox, namespace)
    deploy_stateful(sandbox, namespace, "postgresql")
    psql(sandbox, namespace, "CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL);"
                             "INSERT INTO users (email) SELECT 'u' || g || '@example.com' FROM generate_series(1, 500) g")
    return namespace


def assert_names_holder(line: str, holder: Holder) -> None:
    assert f"waited {LOCK_WAIT}s for a lock" in line, line
    assert re.search(rf"session pid {holder.pid} \(user postgres, application {HOLDER}, state idle in transaction, since \d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\dZ\)", line), line


def test_backup_with_a_table_lock_held_stops_in_time_and_names_the_session(sandbox, pg, tmp_path):
    holder = Holder(sandbox, pg, "LOCK TABLE users IN ACCESS EXCLUSIVE MODE", "AccessExclusiveLock")
    try:
        started = time.monotonic()
        r = cli(sandbox, "db", "backup", "-n", pg, "--backup-dir", str(tmp_path / "b"), env=config(tmp_path, lock_wait=LOCK_WAIT), timeout=90)
        took = time.monotonic() - started
    finally:
        holder.close()
    assert r.returncode == 1, r.stdout + r.stderr
    line = one_error_line(r)
    assert line.startswith("error: backup failed: "), line
    assert_names_holder(line, holder)
    assert took < LOCK_WAIT + 25, f"took {took:.1f}s"
    assert not list((tmp_path / "b").iterdir())  # no file, no .partial, no metadata
    # the lock gone, the same backup works
    ok = cli(sandbox, "db", "backup", "-n", pg, "--backup-dir", str(tmp_path / "b"), env=config(tmp_path, lock_wait=LOCK_WAIT))
    assert ok.returncode == 0, ok.stdout + ok.stderr


def test_restore_blocked_by_an_application_transaction_stops_in_time_and_rolls_back(sandbox, pg, tmp_path):
    env = config(tmp_path, lock_wait=LOCK_WAIT)
    backups = tmp_path / "b"
    r = cli(sandbox, "db", "backup", "-n", pg, "--backup-dir", str(backups), "-o", "json", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    path = backups / __import__("json").loads(r.stdout)["file"]
    psql(sandbox, pg, "DELETE FROM users WHERE id > 100")
    holder = Holder(sandbox, pg, "SELECT count(*) FROM users", "AccessShareLock")  # an app's open read transaction
    try:
        started = time.monotonic()
        r = cli(sandbox, "db", "restore", str(path), "-n", pg, "--backup-dir", str(backups), "--yes", "--no-safety-backup", env=env, timeout=90)
        took = time.monotonic() - started
    finally:
        holder.close()
    assert r.returncode == 1, r.stdout + r.stderr
    line = one_error_line(r)
    assert line.startswith("error: restore failed and was rolled back (nothing changed): "), line
    assert_names_holder(line, holder)
    assert "public.users" in line, line
    assert took < LOCK_WAIT + 25, f"took {took:.1f}s"
    assert psql(sandbox, pg, "SELECT count(*) FROM users") == "100"  # rolled back
    # nothing of ours is left waiting or running in the server
    assert psql(sandbox, pg, "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'tripgenctl-%'") == "0"

    ok = cli(sandbox, "db", "restore", str(path), "-n", pg, "--backup-dir", str(backups), "--yes", "--no-safety-backup", env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert psql(sandbox, pg, "SELECT count(*) FROM users") == "500"


def test_backup_against_a_frozen_postgresql_has_a_deadline(sandbox, pg, tmp_path):
    """The exec waits have deadlines too: with PostgreSQL frozen (it accepts connections and
    never answers) `db backup` ends within [timeouts] exec with one line and no file."""
    state = ["--state-dir", str(sandbox.state_dir)]
    assert cli(sandbox, "sandbox", "fault", "freeze", "postgresql-0", "-n", pg, *state).returncode == 0
    try:
        started = time.monotonic()
        r = cli(sandbox, "db", "backup", "-n", pg, "--backup-dir", str(tmp_path / "b"), env=config(tmp_path, exec=5, lock_wait=2), timeout=60)
        took = time.monotonic() - started
    finally:
        assert cli(sandbox, "sandbox", "fault", "freeze", "postgresql-0", "-n", pg, "--thaw", *state).returncode == 0
    assert r.returncode == 1, r.stdout + r.stderr
    line = one_error_line(r)
    assert re.fullmatch(r"error: psql in pod postgresql-0: no result within \d+s \(the pod may be frozen or overloaded\)", line), line
    assert took < 7 + 20, f"took {took:.1f}s"
    assert not (tmp_path / "b").exists() or not list((tmp_path / "b").iterdir())
    assert psql(sandbox, pg, "SELECT count(*) FROM users") == "500"  # thawed, it answers again


def test_cache_flush_against_a_frozen_redis_has_a_deadline(sandbox, namespace, tmp_path):
    secrets_init(sandbox, namespace)
    deploy_stateful(sandbox, namespace, "redis")
    proc = sandbox.kubectl("exec", "redis-0", "-n", namespace, "--", "redis-cli", "EVAL",
                           "for i = 1, 50 do redis.call('SET', 'k' .. i, i) end return 1", "0")
    assert proc.returncode == 0, proc.stderr
    state = ["--state-dir", str(sandbox.state_dir)]
    frozen = cli(sandbox, "sandbox", "fault", "freeze", "redis-0", "-n", namespace, *state)
    assert frozen.returncode == 0 and "frozen" in frozen.stdout, frozen.stdout + frozen.stderr
    try:
        started = time.monotonic()
        r = cli(sandbox, "cache", "flush", "-n", namespace, "--yes", env=config(tmp_path, redis=3), timeout=60)
        took = time.monotonic() - started
    finally:
        thawed = cli(sandbox, "sandbox", "fault", "freeze", "redis-0", "-n", namespace, "--thaw", *state)
    assert thawed.returncode == 0 and "thawed" in thawed.stdout, thawed.stdout + thawed.stderr
    assert r.returncode == 1, r.stdout + r.stderr
    line = one_error_line(r)
    assert re.fullmatch(r"error: redis in pod redis-0 did not answer INFO keyspace within 3s \(.*is it frozen or overloaded\?\): nothing was flushed", line), line
    assert took < 3 + 20, f"took {took:.1f}s"
    # thawed, Redis answers again and nothing was flushed
    proc = sandbox.kubectl("exec", "redis-0", "-n", namespace, "--", "redis-cli", "DBSIZE", timeout=30)
    assert proc.returncode == 0 and proc.stdout.decode().strip() == "50", (proc.stdout, proc.stderr)
    again = cli(sandbox, "cache", "flush", "-n", namespace, "--yes", "-o", "json", env=config(tmp_path, redis=10))
    assert again.returncode == 0, again.stdout + again.stderr


def test_freeze_of_an_unknown_pod_is_a_usage_error(sandbox, namespace):
    r = cli(sandbox, "sandbox", "fault", "freeze", "nothere-0", "-n", namespace, "--state-dir", str(sandbox.state_dir))
    assert r.returncode == 2 and f"pod {namespace}/nothere-0 not found" in one_error_line(r)


@pytest.mark.parametrize("value", ['"soon"', "0", "-3", "true", "1e9"])
def test_bad_timeouts_in_config_are_refused(tmp_path, value):
    path = tmp_path / "tripgenctl.toml"
    path.write_text(f"[timeouts]\nlock_wait = {value}\n")
    r = subprocess.run([sys.executable, "-m", "tripgenctl", "db", "list"], capture_output=True, text=True, timeout=60,
                       env={**__import__("os").environ, "TRIPGENCTL_CONFIG": str(path)}, stdin=subprocess.DEVNULL, cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    line = one_error_line(r)  # the wrong type is named by the config's type check, the wrong number by [timeouts]
    assert "[timeouts]: lock_wait must be a number" in line and len(line.splitlines()) == 1, line

"""`tripgenctl db backup | verify | list | prune | restore` and `tripgenctl cache flush` through the
real CLI against the sandbox (real PostgreSQL 16 and Redis behind exec): round trips in both
formats and from the old runbook's `kubectl exec ... pg_dump > file.sql`, a stream cut after
1 MB and Ctrl-C half-way leaving no file, a changed byte refused, the wrong namespace refused, a
failing restore changing nothing, `--into`, FLUSHALL 1000 -> 0, and prune's retention rules."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.helpers import cli, deploy_stateful, psql, run_tool, secrets_init, stateful_namespace

MB = 1 << 20
TABLES = ("trips", "notes", "bulk")

SCHEMA = """
CREATE TABLE trips (id serial PRIMARY KEY, name text NOT NULL, payload jsonb, created_at timestamptz NOT NULL DEFAULT '2024-05-01 09:00+00');
CREATE TABLE notes (id int PRIMARY KEY, trip_id int NOT NULL REFERENCES trips (id), body text);
CREATE INDEX notes_trip_idx ON notes (trip_id);
CREATE TABLE bulk (id int PRIMARY KEY, blob text NOT NULL);
INSERT INTO trips (name, payload) SELECT 'trip ' || g, jsonb_build_object('n', g, 'tag', md5(g::text)) FROM generate_series(1, 2000) g;
INSERT INTO notes SELECT g, 1 + g % 2000, 'note ' || g || E'\\t' || md5((g * 7)::text) FROM generate_series(1, 5000) g;
-- ~10 MB of incompressible-ish text: the dump is several MB in either format (more than the 1 MB cut)
INSERT INTO bulk SELECT g, (SELECT string_agg(md5(random()::text || g || i), '') FROM generate_series(1, 8) i) FROM generate_series(1, 40000) g;
"""

DAMAGE = "DELETE FROM notes WHERE id % 3 = 0; UPDATE trips SET name = 'renamed' WHERE id <= 10; DELETE FROM bulk WHERE id > 100"


# ---- helpers -----------------------------------------------------------------------------------

def snapshot(sandbox, ns: str, database: str = "tripgen") -> dict[str, tuple[str, str]]:
    """Per table: (row count, md5 of all rows in key order); plus the sequence's position."""
    parts = [f"SELECT '{t}', count(*)::text, coalesce(md5(string_agg(x::text, '|' ORDER BY x.id)), '-') FROM {t} x" for t in TABLES]
    parts.append("SELECT 'trips_id_seq', last_value::text, is_called::text FROM trips_id_seq")
    out = psql(sandbox, ns, " UNION ALL ".join(parts), database)
    return {name: (a, b) for name, a, b in (line.split("|") for line in out.splitlines())}


def counts(state: dict) -> dict[str, int]:
    return {f"public.{t}": int(state[t][0]) for t in TABLES}


def db(sandbox, ns: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return cli(sandbox, "db", *args, "-n", ns, timeout=timeout)


def take_backup(sandbox, ns: str, backup_dir: Path, *extra: str) -> tuple[dict, Path]:
    r = db(sandbox, ns, "backup", "--backup-dir", str(backup_dir), "-o", "json", *extra)
    assert r.returncode == 0, r.stdout + r.stderr
    info = json.loads(r.stdout)
    return info, backup_dir / info["file"]


def one_error_line(r: subprocess.CompletedProcess) -> str:
    """A failure is one clear line on stderr, never a traceback."""
    assert "Traceback" not in r.stderr, r.stderr
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, r.stderr
    return lines[0]


def secret(sandbox, ns: str, name: str, key: str = "password") -> str:
    data = json.loads(sandbox.kubectl("get", "secret", name, "-n", ns, "-o", "json", check=True).stdout)["data"]
    return base64.b64decode(data[key]).decode()


def old_runbook_dump(sandbox, ns: str, path: Path) -> Path:
    """`kubectl exec postgresql-0 -- pg_dump -U postgres tripgen > file.sql`, as the runbook says."""
    proc = sandbox.kubectl("exec", "postgresql-0", "-n", ns, "--", "pg_dump", "-U", "postgres", "tripgen", timeout=120)
    assert proc.returncode == 0, proc.stderr
    path.write_bytes(proc.stdout)
    return path


def files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


@pytest.fixture(scope="module")
def env(sandbox):
    """Namespace A: Secrets, PostgreSQL and Redis from manifests/ and a database holding a few MB
    (three related tables, an index, a sequence). Tests that damage the data put it back, which
    is what they test; each compares the state before and after itself."""
    with stateful_namespace(sandbox, "backup", "postgresql", "redis", sql=SCHEMA) as name:
        yield name


# ---- backup -> damage -> restore ---------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["custom", "plain"])
def test_backup_damage_restore_round_trip(sandbox, env, tmp_path, fmt):
    before = snapshot(sandbox, env)
    extra = ("--format", "plain") if fmt == "plain" else ()
    info, path = take_backup(sandbox, env, tmp_path, *extra)
    # the file and its metadata: format, size, checksum, origin, per-table counts, versions
    assert path.suffix == (".dump" if fmt == "custom" else ".sql") and re.fullmatch(r"dev-backup-\d{8}-\d{6}\.(dump|sql)", path.name)
    data = path.read_bytes()
    assert (data[:5] == b"PGDMP") if fmt == "custom" else (b"-- PostgreSQL database dump complete" in data[-200:])
    meta = json.loads(Path(f"{path}.json").read_text())
    assert meta == info
    assert meta["format"] == fmt and meta["size"] == path.stat().st_size > 2 * MB
    assert meta["sha256"] == hashlib.sha256(data).hexdigest()
    assert meta["namespace"] == env and meta["database"] == "tripgen" and meta["context"] and meta["server"].startswith("https://")
    assert meta["server_version"].startswith("16") and "pg_dump (PostgreSQL) 16" in meta["pg_dump_version"]
    assert meta["table_counts"] == counts(before)
    assert meta["started_at"] <= meta["finished_at"] and meta["tool_version"]
    assert files(tmp_path) == sorted([path.name, f"{path.name}.json", f"{path.name}.globals"])

    psql(sandbox, env, DAMAGE)
    damaged = snapshot(sandbox, env)
    assert damaged != before and damaged["trips"][0] == before["trips"][0]  # same count, different content

    refused = db(sandbox, env, "restore", str(path), "--backup-dir", str(tmp_path))  # no terminal, no --yes
    assert refused.returncode == 2 and "--yes" in one_error_line(refused)
    assert snapshot(sandbox, env) == damaged

    r = db(sandbox, env, "restore", str(path), "--backup-dir", str(tmp_path), "--yes", "-o", "json")
    assert r.returncode == 0, r.stdout + r.stderr
    result = json.loads(r.stdout)
    assert result["counts_match"] is True and result["mismatches"] == {} and result["target_namespace"] == env
    assert snapshot(sandbox, env) == before  # identical counts AND content (and the sequence)

    # the automatic safety backup holds the damaged state; listed with its sha256 recorded, and
    # called verified only when `--check` re-hashed it
    safety = tmp_path / result["safety_backup"]
    assert safety.name.startswith("pre-restore-") and safety.exists()
    assert json.loads(Path(f"{safety}.json").read_text())["table_counts"] == counts(damaged)
    listed = db(sandbox, env, "list", "--backup-dir", str(tmp_path), "-o", "json")
    assert listed.returncode == 0, listed.stderr
    rows = {e["file"]: e for e in json.loads(listed.stdout)}
    assert set(rows) == {path.name, safety.name}
    assert rows[path.name]["verified"] == rows[safety.name]["verified"] == "sha256 recorded, not re-checked"
    assert rows[path.name]["state"] == rows[safety.name]["state"] == "recorded"
    assert rows[path.name]["kind"] == "backup" and rows[safety.name]["kind"] == "safety"
    assert rows[path.name]["size"] == meta["size"] and rows[path.name]["database"] == "tripgen" and rows[path.name]["namespace"] == env
    table = db(sandbox, env, "list", "--backup-dir", str(tmp_path))
    assert table.returncode == 0 and path.name in table.stdout and "sha256 recorded, not re-checked" in table.stdout
    assert not re.search(r"\bverified\b", table.stdout), table.stdout
    checked = json.loads(db(sandbox, env, "list", "--backup-dir", str(tmp_path), "--check", "-o", "json").stdout)
    assert all(e["state"] == "verified" and e["verified"] == f"verified {e['checked_at']}" for e in checked), checked

    password = secret(sandbox, env, "postgresql-secret")
    assert password not in r.stdout + r.stderr + listed.stdout + Path(f"{path}.json").read_text()


def test_old_runbook_plain_sql_restores(sandbox, env, tmp_path):
    before = snapshot(sandbox, env)
    old = old_runbook_dump(sandbox, env, tmp_path / "dev-backup-old.sql")
    assert b"dump complete" in old.read_bytes()[-200:]
    v = db(sandbox, env, "verify", str(old), "-o", "json")
    assert v.returncode == 0, v.stdout + v.stderr
    assert json.loads(v.stdout)["sha256_ok"] is None and "no metadata" in json.loads(v.stdout)["reason"]

    psql(sandbox, env, DAMAGE)
    damaged = snapshot(sandbox, env)
    refused = db(sandbox, env, "restore", str(old), "--backup-dir", str(tmp_path))  # no recorded origin, no terminal
    assert refused.returncode == 2 and "--yes" in one_error_line(refused)
    assert snapshot(sandbox, env) == damaged

    r = db(sandbox, env, "restore", str(old), "--backup-dir", str(tmp_path), "--yes", "-o", "json")
    assert r.returncode == 0, r.stdout + r.stderr
    result = json.loads(r.stdout)
    assert result["counts_match"] is None  # nothing recorded to compare with
    assert result["table_counts"] == counts(before)
    assert snapshot(sandbox, env) == before


# ---- failures leave nothing behind -----------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["custom", "plain"])
def test_exec_stream_cut_after_1mb_leaves_no_file(sandbox, env, tmp_path, fmt):
    sandbox.fault("exec-cut-after-bytes", MB)
    try:
        r = db(sandbox, env, "backup", "--backup-dir", str(tmp_path), "--name", "cut", "--format", fmt)
    finally:
        sandbox.fault("exec-cut-after-bytes", None)
    assert r.returncode == 1, r.stdout + r.stderr
    line = one_error_line(r)
    got = re.search(r"backup failed: the exec stream ended after (\d+) bytes without an exit status", line)
    assert got and 0 < int(got.group(1)) <= MB, line
    assert files(tmp_path) == []  # no final file, no .partial, no metadata

    # the same backup without the fault is well over 1 MB and succeeds
    info, path = take_backup(sandbox, env, tmp_path, "--name", "cut", "--format", fmt)
    assert info["size"] > MB and files(tmp_path) == sorted([path.name, f"{path.name}.json", f"{path.name}.globals"])


def test_disk_full_half_way_leaves_no_file(sandbox, env, tmp_path):
    """A file-size limit of 1 MB on the tool stands in for a full backup disk (EFBIG as ENOSPC)."""
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (MB, MB))

    proc = subprocess.run([sys.executable, "-m", "tripgenctl", "db", "backup", "-n", env, "--backup-dir", str(tmp_path), "--name", "full"],
                          capture_output=True, text=True, env=sandbox.env(), stdin=subprocess.DEVNULL, timeout=120, preexec_fn=limit)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    line = one_error_line(proc)
    assert re.search(r"backup failed: cannot write full\.dump\.partial after \d+ bytes: File too large", line), line
    assert files(tmp_path) == []


def interrupt_half_way(sandbox, env: str, tmp_path: Path, sig: int) -> tuple[subprocess.Popen, str, str]:
    """Start `db backup`, wait until bytes of the dump have arrived, then send `sig`."""
    partial = tmp_path / "interrupted.dump.partial"
    proc = subprocess.Popen([sys.executable, "-m", "tripgenctl", "db", "backup", "-n", env, "--backup-dir", str(tmp_path), "--name", "interrupted"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=sandbox.env(), text=True)
    try:
        deadline = time.monotonic() + 60
        while True:  # until bytes of the dump have arrived
            try:
                if partial.stat().st_size > 0:
                    break
            except FileNotFoundError:
                pass
            assert proc.poll() is None, f"backup ended before it could be interrupted: {proc.communicate()}"
            assert time.monotonic() < deadline, "no .partial file grew within 60 s"
            time.sleep(0.005)
        # freeze it where it is, make sure it is still half-way, then the signal
        proc.send_signal(signal.SIGSTOP)
        assert partial.exists() and not (tmp_path / "interrupted.dump").exists(), "the backup finished before the signal"
        proc.send_signal(sig)
        proc.send_signal(signal.SIGCONT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc, out, err


def test_sigint_half_way_leaves_no_file_and_one_line(sandbox, env, tmp_path):
    proc, out, err = interrupt_half_way(sandbox, env, tmp_path, signal.SIGINT)
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err and err.strip() == "interrupted", err
    assert files(tmp_path) == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_or_sighup_half_way_is_handled_like_sigint(sandbox, env, tmp_path, sig):
    """What a CronJob's deadline or a closed terminal sends: the same cleanup as Ctrl-C, no
    .partial left, one line, exit 128 + the signal."""
    proc, out, err = interrupt_half_way(sandbox, env, tmp_path, sig)
    assert proc.returncode == 128 + sig, (proc.returncode, out, err)
    assert "Traceback" not in err and err.strip() == {signal.SIGTERM: "terminated (SIGTERM)", signal.SIGHUP: "hung up (SIGHUP)"}[sig], err
    assert files(tmp_path) == []


def test_backups_are_private(sandbox, env, tmp_path):
    """Backups hold password hashes and e-mail addresses: 0600 files in a 0700 directory,
    whatever the umask; an existing directory that is wider is tightened."""
    fresh = tmp_path / "fresh" / "backups"
    info, path = take_backup(sandbox, env, fresh, "--format", "plain")
    assert fresh.stat().st_mode & 0o777 == 0o700
    assert path.stat().st_mode & 0o777 == 0o600 and Path(f"{path}.json").stat().st_mode & 0o777 == 0o600
    wide = tmp_path / "wide"
    wide.mkdir(mode=0o755)
    os.chmod(wide, 0o755)
    info, path = take_backup(sandbox, env, wide, "--format", "plain")
    assert wide.stat().st_mode & 0o777 == 0o700
    assert path.stat().st_mode & 0o777 == 0o600 and Path(f"{path}.json").stat().st_mode & 0o777 == 0o600
    shared = tmp_path / "shared"  # a directory holding other things too is not ours to tighten
    shared.mkdir()
    os.chmod(shared, 0o755)
    (shared / "notes.txt").write_text("not a backup")
    info, path = take_backup(sandbox, env, shared, "--format", "plain")
    assert shared.stat().st_mode & 0o777 == 0o755
    assert path.stat().st_mode & 0o777 == 0o600 and Path(f"{path}.json").stat().st_mode & 0o777 == 0o600


def test_one_changed_byte_is_refused_and_the_database_untouched(sandbox, env, tmp_path):
    info, path = take_backup(sandbox, env, tmp_path)
    ok = db(sandbox, env, "verify", str(path), "-o", "json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["ok"] is True, ok.stdout + ok.stderr

    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    before = snapshot(sandbox, env)

    v = db(sandbox, env, "verify", str(path), "-o", "json")
    assert v.returncode == 1, v.stdout + v.stderr
    result = json.loads(v.stdout)
    assert result["ok"] is False and result["sha256_ok"] is False and "sha256 does not match" in result["reason"]
    table = db(sandbox, env, "verify", str(path))
    assert table.returncode == 1 and "sha256 does not match" in table.stdout

    r = db(sandbox, env, "restore", str(path), "--backup-dir", str(tmp_path), "--yes")
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"refusing to restore {path.name}: sha256 does not match" in one_error_line(r)
    assert snapshot(sandbox, env) == before
    assert files(tmp_path) == sorted([path.name, f"{path.name}.json", f"{path.name}.globals"])  # refused before any safety backup

    listed = db(sandbox, env, "list", "--backup-dir", str(tmp_path), "--check", "-o", "json")
    assert listed.returncode == 1, listed.stdout + listed.stderr  # --check found damage
    assert [(e["verified"], e["state"]) for e in json.loads(listed.stdout)] == [("damaged: checksum mismatch", "damaged")]
    table = db(sandbox, env, "list", "--backup-dir", str(tmp_path), "--check")
    assert table.returncode == 1 and "damaged: checksum mismatch" in table.stdout, table.stdout
    unchecked = db(sandbox, env, "list", "--backup-dir", str(tmp_path), "-o", "json")  # not re-hashed: never "verified"
    assert [e["verified"] for e in json.loads(unchecked.stdout)] == ["sha256 recorded, not re-checked"]


def flip_middle_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_custom_archive_without_metadata_is_proven_or_refused(sandbox, env, tmp_path):
    """Without metadata nothing records the archive's checksum: a compressed archive is proven
    by its data blocks' own checksums (one flipped byte fails), an uncompressed one cannot be
    proven at all, which `db verify` says and exits 1 on (and restore refuses it)."""
    info, compressed = take_backup(sandbox, env, tmp_path, "--name", "gz")
    Path(f"{compressed}.json").unlink()
    ok = db(sandbox, env, "verify", str(compressed), "-o", "json")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "compressed data passed its checksums" in json.loads(ok.stdout)["reason"] and "origin unknown" in json.loads(ok.stdout)["reason"]
    flip_middle_byte(compressed)
    bad = db(sandbox, env, "verify", str(compressed), "-o", "json")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert json.loads(bad.stdout)["ok"] is False and "does not read back" in json.loads(bad.stdout)["reason"], bad.stdout

    raw = tmp_path / "raw.dump"  # `pg_dump -Fc -Z0`, as a hand-made backup might be
    proc = sandbox.kubectl("exec", "postgresql-0", "-n", env, "--", "pg_dump", "-U", "postgres", "-Fc", "-Z0", "tripgen", timeout=120)
    assert proc.returncode == 0, proc.stderr
    raw.write_bytes(proc.stdout)
    for damaged in (False, True):
        if damaged:
            flip_middle_byte(raw)
        v = db(sandbox, env, "verify", str(raw), "-o", "json")
        assert v.returncode == 1, v.stdout + v.stderr
        result = json.loads(v.stdout)
        assert result["ok"] is False and result["sha256_ok"] is None
        assert result["reason"].startswith("cannot prove raw.dump is intact without its metadata: the archive is uncompressed"), result
        table = db(sandbox, env, "verify", str(raw))
        assert table.returncode == 1 and "cannot prove raw.dump is intact" in table.stdout
    before = snapshot(sandbox, env)
    r = db(sandbox, env, "restore", str(raw), "--backup-dir", str(tmp_path), "--yes")
    assert r.returncode == 1 and "refusing to restore raw.dump: cannot prove" in one_error_line(r)
    assert snapshot(sandbox, env) == before


def test_restore_reports_objects_absent_from_the_backup_and_drop_extra_removes_them(sandbox, env, tmp_path):
    before = snapshot(sandbox, env)
    info, path = take_backup(sandbox, env, tmp_path)
    psql(sandbox, env, "CREATE TABLE extra_after (id int PRIMARY KEY); INSERT INTO extra_after VALUES (1);"
                       "CREATE VIEW extra_view AS SELECT id FROM extra_after; CREATE SEQUENCE extra_seq")
    try:
        r = db(sandbox, env, "restore", str(path), "--backup-dir", str(tmp_path), "--yes", "--no-safety-backup")
        assert r.returncode == 1, r.stdout + r.stderr  # restored, but the database is not what the backup holds
        assert re.search(r"Counts match:\s*no", r.stdout), r.stdout
        for name in ("table public.extra_after", "view public.extra_view", "sequence public.extra_seq"):
            assert re.search(rf"{re.escape(name)}\s.*in the database but not in the backup \(kept; --drop-extra removes it\)", r.stdout), r.stdout
        assert snapshot(sandbox, env) == before  # the backup's tables are restored all the same
        assert psql(sandbox, env, "SELECT count(*) FROM extra_after") == "1"

        j = db(sandbox, env, "restore", str(path), "--backup-dir", str(tmp_path), "--yes", "--no-safety-backup", "-o", "json")
        assert j.returncode == 1 and json.loads(j.stdout)["counts_match"] is False
        assert sorted(json.loads(j.stdout)["extra_objects"]) == ["sequence public.extra_seq", "table public.extra_after", "view public.extra_view"]

        d = db(sandbox, env, "restore", str(path), "--backup-dir", str(tmp_path), "--yes", "--no-safety-backup", "--drop-extra", "-o", "json")
        assert d.returncode == 0, d.stdout + d.stderr
        result = json.loads(d.stdout)
        assert result["counts_match"] is True and result["extra_objects"] == []
        assert sorted(result["dropped_extra"]) == ["sequence public.extra_seq", "table public.extra_after", "view public.extra_view"]
        assert psql(sandbox, env, "SELECT count(*) FROM pg_class WHERE relname IN ('extra_after', 'extra_view', 'extra_seq')") == "0"
        assert snapshot(sandbox, env) == before
    finally:
        psql(sandbox, env, "DROP VIEW IF EXISTS extra_view; DROP TABLE IF EXISTS extra_after; DROP SEQUENCE IF EXISTS extra_seq")


def test_count_mismatch_shows_in_the_table_output(sandbox, env, tmp_path):
    info, path = take_backup(sandbox, env, tmp_path)
    meta_file = Path(f"{path}.json")
    meta = json.loads(meta_file.read_text())
    real = meta["table_counts"]["public.notes"]
    meta["table_counts"]["public.notes"] = real + 7  # the metadata now promises rows the dump lacks
    meta_file.write_text(json.dumps(meta))
    r = db(sandbox, env, "restore", str(path), "--backup-dir", str(tmp_path), "--yes", "--no-safety-backup")
    assert r.returncode == 1, r.stdout + r.stderr
    assert re.search(r"Counts match:\s*no", r.stdout), r.stdout
    assert re.search(rf"public\.notes\s.*row count: expected {real + 7}, found {real}", r.stdout), r.stdout


def test_restore_into_another_namespace_needs_yes(sandbox, env, namespace, tmp_path):
    info, path = take_backup(sandbox, env, tmp_path)
    source = snapshot(sandbox, env)
    secrets_init(sandbox, namespace)
    deploy_stateful(sandbox, namespace, "postgresql")
    psql(sandbox, namespace, "CREATE TABLE marker (id int PRIMARY KEY, note text); INSERT INTO marker VALUES (1, 'namespace B')")

    r = db(sandbox, namespace, "restore", str(path), "--backup-dir", str(tmp_path))
    assert r.returncode == 2, r.stdout + r.stderr
    line = one_error_line(r)
    assert f"refusing to restore {path.name} into a different target (namespace {env} -> {namespace})" in line and "--yes" in line
    # untouched: B still has only its own table, and no safety backup was taken
    assert psql(sandbox, namespace, "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'") == "marker"
    assert files(tmp_path) == sorted([path.name, f"{path.name}.json", f"{path.name}.globals"])

    r = db(sandbox, namespace, "restore", str(path), "--backup-dir", str(tmp_path), "--yes", "-o", "json")
    # restored, but B's own table is not in the backup: reported, kept, and "counts match" not claimed
    assert r.returncode == 1, r.stdout + r.stderr
    result = json.loads(r.stdout)
    assert result["counts_match"] is False and result["mismatches"] == {} and result["target_namespace"] == namespace
    assert result["extra_objects"] == ["table public.marker"]
    assert snapshot(sandbox, namespace) == source
    assert psql(sandbox, namespace, "SELECT note FROM marker") == "namespace B"


def test_plain_sql_failing_at_a_late_statement_changes_nothing(sandbox, env, tmp_path):
    old = old_runbook_dump(sandbox, env, tmp_path / "broken.sql")
    text = old.read_bytes()
    trailer = text.rindex(b"--\n-- PostgreSQL database dump complete")
    # after the schema, all the data and the constraints: a duplicate key
    bad = b"INSERT INTO public.notes (id, trip_id, body) VALUES (1, 1, 'duplicate');\n"
    old.write_bytes(text[:trailer] + bad + text[trailer:])
    psql(sandbox, env, "UPDATE trips SET name = 'changed since the dump' WHERE id = 1")
    before = snapshot(sandbox, env)

    r = db(sandbox, env, "restore", str(old), "--backup-dir", str(tmp_path), "--yes", "--no-safety-backup")
    assert r.returncode == 1, r.stdout + r.stderr
    line = one_error_line(r)
    at = text[:trailer].count(b"\n") + 1  # the line of the bad statement in the file
    assert line.startswith("error: restore failed and was rolled back (nothing changed): ERROR: duplicate key value violates unique constraint"), line
    assert f"DETAIL: Key (id)=(1) already exists.; at line {at} of broken.sql)" in line, line
    assert snapshot(sandbox, env) == before
    assert files(tmp_path) == ["broken.sql"]  # --no-safety-backup
    psql(sandbox, env, "UPDATE trips SET name = 'trip 1' WHERE id = 1")

    # into a new database: the half-made database does not stay behind either
    r = db(sandbox, env, "restore", str(old), "--backup-dir", str(tmp_path), "--yes", "--into", "broken_copy")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "restore into broken_copy failed (the new database was removed again): ERROR: duplicate key" in one_error_line(r)
    assert psql(sandbox, env, "SELECT count(*) FROM pg_database WHERE datname = 'broken_copy'", "postgres") == "0"


def test_custom_archive_failing_half_way_changes_nothing(sandbox, env, tmp_path):
    info, path = take_backup(sandbox, env, tmp_path)
    psql(sandbox, env, DAMAGE)
    # the archive's CREATE INDEX (after tables were dropped and recreated and all data copied) fails
    psql(sandbox, env, "CREATE SCHEMA testguard;"
                       " CREATE FUNCTION testguard.refuse() RETURNS event_trigger LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'index creation blocked by the test'; END$$;"
                       " CREATE EVENT TRIGGER block_index ON ddl_command_start WHEN TAG IN ('CREATE INDEX') EXECUTE FUNCTION testguard.refuse()")
    try:
        before = snapshot(sandbox, env)
        r = db(sandbox, env, "restore", str(path), "--backup-dir", str(tmp_path), "--yes")
        assert r.returncode == 1, r.stdout + r.stderr
        line = one_error_line(r)
        assert "restore failed and was rolled back (nothing changed; safety backup pre-restore-" in line, line
        assert "ERROR: index creation blocked by the test (Command was: CREATE INDEX notes_trip_idx ON public.notes" in line, line
        assert snapshot(sandbox, env) == before
        assert psql(sandbox, env, "SELECT count(*) FROM pg_indexes WHERE indexname = 'notes_trip_idx'") == "1"
    finally:
        psql(sandbox, env, "DROP EVENT TRIGGER IF EXISTS block_index; DROP SCHEMA IF EXISTS testguard CASCADE")
    r = db(sandbox, env, "restore", str(path), "--backup-dir", str(tmp_path), "--yes", "--no-safety-backup", "-o", "json")
    assert r.returncode == 0 and json.loads(r.stdout)["counts_match"] is True, r.stdout + r.stderr
    assert counts(snapshot(sandbox, env)) == info["table_counts"]


def test_restore_into_a_fresh_database_beside_the_live_one(sandbox, env, tmp_path):
    before = snapshot(sandbox, env)
    info, path = take_backup(sandbox, env, tmp_path)
    psql(sandbox, env, DAMAGE)
    damaged = snapshot(sandbox, env)
    copy = f"inspect_{uuid.uuid4().hex[:6]}"
    try:
        r = db(sandbox, env, "restore", str(path), "--backup-dir", str(tmp_path), "--into", copy, "--yes", "-o", "json")
        assert r.returncode == 0, r.stdout + r.stderr
        result = json.loads(r.stdout)
        assert result["target_database"] == copy and result["safety_backup"] is None and result["counts_match"] is True
        assert snapshot(sandbox, env, copy) == before
        assert snapshot(sandbox, env) == damaged  # the live database was not touched
        again = db(sandbox, env, "restore", str(path), "--backup-dir", str(tmp_path), "--into", copy, "--yes")
        assert again.returncode == 2 and f"database {copy} already exists" in one_error_line(again)
        bad = db(sandbox, env, "restore", str(path), "--backup-dir", str(tmp_path), "--into", "x; DROP DATABASE tripgen", "--yes")
        assert bad.returncode == 2 and "--into" in one_error_line(bad)
    finally:
        psql(sandbox, env, f'DROP DATABASE IF EXISTS "{copy}"', "postgres")
    r = db(sandbox, env, "restore", str(path), "--backup-dir", str(tmp_path), "--yes", "--no-safety-backup")
    assert r.returncode == 0, r.stdout + r.stderr
    assert snapshot(sandbox, env) == before


# ---- cache flush ---------------------------------------------------------------------------------

def load_keys(sandbox, ns: str, n: int = 1000) -> None:
    script = f"for i = 1, {n} do redis.call('SET', 'key:' .. i, 'value ' .. i) end return redis.call('DBSIZE')"
    proc = sandbox.kubectl("exec", "redis-0", "-n", ns, "--", "redis-cli", "EVAL", script, "0")
    assert proc.returncode == 0 and proc.stdout.decode().strip() == str(n), (proc.stdout, proc.stderr)


def dbsize(sandbox, ns: str) -> int:
    proc = sandbox.kubectl("exec", "redis-0", "-n", ns, "--", "redis-cli", "DBSIZE")
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout.decode().strip())


def test_cache_flush_1000_keys_to_0_and_refuses_without_yes(sandbox, env):
    load_keys(sandbox, env)
    refused = cli(sandbox, "cache", "flush", "-n", env)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    line = one_error_line(refused)
    assert "1000 keys will be deleted" in line and "--yes" in line
    assert dbsize(sandbox, env) == 1000

    r = cli(sandbox, "cache", "flush", "-n", env, "--yes", "-o", "json")
    assert r.returncode == 0, r.stdout + r.stderr
    result = json.loads(r.stdout)
    assert (result["command"], result["keys_before"], result["keys_after"]) == ("FLUSHALL", 1000, 0)
    assert dbsize(sandbox, env) == 0

    load_keys(sandbox, env)
    table = cli(sandbox, "cache", "flush", "-n", env, "--yes")
    assert table.returncode == 0, table.stderr
    assert re.search(r"Keys before:\s*1000\b", table.stdout) and re.search(r"Keys after:\s*0\b", table.stdout), table.stdout
    assert secret(sandbox, env, "redis-secret") not in refused.stderr + r.stdout + r.stderr + table.stdout + table.stderr


def test_flushall_renamed_gets_a_clear_message(sandbox, namespace):
    def rename_flushall(obj):
        if obj["kind"] == "StatefulSet":
            obj["spec"]["template"]["spec"]["containers"][0]["args"] += ["--rename-command", "FLUSHALL", ""]

    secrets_init(sandbox, namespace)
    deploy_stateful(sandbox, namespace, "redis", edit=rename_flushall)
    load_keys(sandbox, namespace, 10)
    r = cli(sandbox, "cache", "flush", "-n", namespace, "--yes")
    assert r.returncode == 1, r.stdout + r.stderr
    line = one_error_line(r)
    assert "FLUSHALL/FLUSHDB is renamed or disabled on this server" in line, line
    assert dbsize(sandbox, namespace) == 10


# ---- list and prune (no cluster) -------------------------------------------------------------------

def fabricate(directory: Path, name: str, age_days: float, state: str = "verified") -> Path:
    """A backup file `age_days` old: verified metadata, metadata with a wrong size, or none."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    body = f"-- fake dump {name}\n-- PostgreSQL database dump complete\n".encode()
    path.write_bytes(body)
    when = datetime.now(timezone.utc) - timedelta(days=age_days)
    os.utime(path, (when.timestamp(), when.timestamp()))
    if state != "no metadata":
        meta = {"file": name, "format": "plain", "size": len(body) + (0 if state == "verified" else 7),
                "sha256": hashlib.sha256(body).hexdigest(), "context": "tripgen-sandbox", "namespace": "tripgen-dev",
                "server": "https://127.0.0.1:6443", "database": "tripgen", "server_version": "16.4",
                "pg_dump_version": "pg_dump (PostgreSQL) 16.4", "table_counts": {"public.trips": 1},
                "started_at": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "finished_at": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "tool_version": "0", "kind": "backup", "verified": True}
        Path(f"{path}.json").write_text(json.dumps(meta))
    return path


def offline(*args: str) -> subprocess.CompletedProcess:
    """`tripgenctl db list|prune` need no cluster: no KUBECONFIG at all."""
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    env["KUBECONFIG"] = "/nonexistent/kubeconfig"
    return run_tool("db", *args, env=env, timeout=60)


def test_list_shows_verified_state(tmp_path):
    fabricate(tmp_path, "a.sql", 3)
    fabricate(tmp_path, "b.sql", 2, "size mismatch")
    fabricate(tmp_path, "c.sql", 1, "no metadata")
    (tmp_path / "d.dump.partial").write_bytes(b"PGDMP half")
    fabricate(tmp_path, "e.sql", 0.5)
    (tmp_path / "e.sql.json").write_text("{not json")
    r = offline("list", "--backup-dir", str(tmp_path), "-o", "json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [(e["file"], e["verified"]) for e in rows] == [
        ("a.sql", "sha256 recorded, not re-checked"), ("b.sql", "damaged: size mismatch"), ("c.sql", "no metadata"),
        ("e.sql", "metadata unreadable"), ("d.dump.partial", "incomplete: left by an interrupted backup (db prune removes it)")]
    assert rows[0]["database"] == "tripgen" and rows[0]["size"] == (tmp_path / "a.sql").stat().st_size
    assert offline("list", "--backup-dir", str(tmp_path / "none"), "-o", "json").stdout.strip() == "[]"
    directory = offline("verify", str(tmp_path))
    assert directory.returncode == 2 and f"{tmp_path} is a directory, not a file" in one_error_line(directory)
    missing = offline("verify", str(tmp_path / "nope.dump"))
    assert missing.returncode == 2 and "nope.dump does not exist" in one_error_line(missing)
    unreadable = offline("verify", str(tmp_path / "e.sql"))
    assert unreadable.returncode == 1 and "e.sql.json is unreadable" in one_error_line(unreadable)


def test_prune_never_deletes_the_newest_verified_backup(tmp_path):
    d = tmp_path / "b"
    fabricate(d, "old-20d.sql", 20)
    fabricate(d, "old-10d.sql", 10)  # the newest verified one
    fabricate(d, "old-9d-bad.sql", 9, "size mismatch")
    fabricate(d, "old-8d-nometa.sql", 8, "no metadata")
    everything = files(d)

    dry = offline("prune", "--backup-dir", str(d), "--keep-days", "7", "--dry-run", "-o", "json")
    assert dry.returncode == 0, dry.stderr
    plan = json.loads(dry.stdout)
    assert plan["dry_run"] is True and sorted(plan["deleted"]) == ["old-20d.sql", "old-8d-nometa.sql", "old-9d-bad.sql"]
    assert plan["kept"] == ["old-10d.sql"]
    assert files(d) == everything  # a dry run deletes nothing

    refused = offline("prune", "--backup-dir", str(d), "--keep-days", "7")  # no terminal, no --yes
    assert refused.returncode == 2 and "--yes" in one_error_line(refused) and files(d) == everything

    keep2 = offline("prune", "--backup-dir", str(d), "--keep-days", "7", "--keep-last", "2", "--dry-run", "-o", "json")
    assert json.loads(keep2.stdout)["deleted"] == ["old-20d.sql"]

    assert json.loads(offline("prune", "--backup-dir", str(d), "--dry-run", "-o", "json").stdout)["deleted"]  # default: 7 days
    assert json.loads(offline("prune", "--backup-dir", str(d), "--keep-days", "30", "--dry-run", "-o", "json").stdout)["deleted"] == []

    for bad in (("--keep-days", "-1"), ("--keep-last", "-2")):
        r = offline("prune", "--backup-dir", str(d), *bad, "--yes")
        assert r.returncode == 2 and f"{bad[0]} must be 0 or more" in one_error_line(r) and files(d) == everything

    done = offline("prune", "--backup-dir", str(d), "--keep-days", "0", "--yes", "-o", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["kept"] == ["old-10d.sql"]
    assert files(d) == ["old-10d.sql", "old-10d.sql.json"]  # metadata goes with its file


def test_prune_shows_each_file_its_action_and_why_and_removes_partials(tmp_path):
    import fcntl

    d = tmp_path / "b"
    fabricate(d, "old-20d.sql", 20)
    fabricate(d, "old-10d.sql", 10)
    fabricate(d, "new-1d.sql", 1)
    killed = d / "killed.dump.partial"  # left by a run that was killed (SIGKILL: no cleanup possible)
    killed.write_bytes(b"PGDMP half")
    when = (datetime.now(timezone.utc) - timedelta(hours=3)).timestamp()
    os.utime(killed, (when, when))
    running = d / "running.dump.partial"  # a backup writing now holds its flock
    running.write_bytes(b"PGDMP growing")
    with open(running, "rb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        listed = offline("list", "--backup-dir", str(d), "-o", "json")
        states = {e["file"]: e["state"] for e in json.loads(listed.stdout)}
        assert states["killed.dump.partial"] == "incomplete" and states["running.dump.partial"] == "in progress", listed.stdout

        dry = offline("prune", "--backup-dir", str(d), "--keep-days", "7", "--dry-run")
        assert dry.returncode == 0, dry.stderr
        plain = [line.replace("│", " ").replace("┃", " ") for line in dry.stdout.splitlines()]  # Rich's column rules
        rows = {name: next((l for l in plain if f" {name} " in l), "") for name in
                ("old-20d.sql", "old-10d.sql", "new-1d.sql", "killed.dump.partial", "running.dump.partial")}
        assert re.search(r"old-20d\.sql\s+20d \dh\s+would delete\s+older than 7 days", rows["old-20d.sql"]), dry.stdout
        assert re.search(r"old-10d\.sql\s+10d \dh\s+would delete\s+older than 7 days", rows["old-10d.sql"]), dry.stdout
        assert re.search(r"new-1d\.sql\s+1d \dh\s+keep\s+the newest intact backup is never pruned", rows["new-1d.sql"]), dry.stdout
        assert re.search(r"killed\.dump\.partial\s+3h \d+m\s+would delete\s+incomplete \.partial left by an interrupted backup", rows["killed.dump.partial"]), dry.stdout
        assert re.search(r"running\.dump\.partial\s+.*keep\s+a running backup is writing it", rows["running.dump.partial"]), dry.stdout
        assert re.search(r"Dry run:\s*yes", dry.stdout)

        done = offline("prune", "--backup-dir", str(d), "--keep-days", "7", "--yes")
        assert done.returncode == 0, done.stderr
        assert re.search(r"killed\.dump\.partial\s+3h \d+m\s+deleted\s", done.stdout.replace("│", " ")), done.stdout
        assert files(d) == ["new-1d.sql", "new-1d.sql.json", "running.dump.partial"]


def test_sigterm_at_the_question_exits_143_and_deletes_nothing(tmp_path):
    """SIGTERM while `db prune` asks on a terminal: one line, exit 143, nothing deleted."""
    import pty

    fabricate(tmp_path, "old.sql", 20)
    fabricate(tmp_path, "new.sql", 1)
    everything = files(tmp_path)
    main, secondary = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    proc = subprocess.Popen([sys.executable, "-m", "tripgenctl", "db", "prune", "--backup-dir", str(tmp_path), "--keep-days", "7"],
                            stdin=secondary, stdout=secondary, stderr=secondary, env=env)
    os.close(secondary)
    import select

    def read_some(seen: bytes) -> bytes:
        if select.select([main], [], [], 0.2)[0]:
            try:
                return seen + os.read(main, 4096)
            except OSError:  # the other end closed
                return seen
        return seen

    try:
        seen = b""
        deadline = time.monotonic() + 60
        while b"Delete 1 backup(s): old.sql?" not in seen:  # the question is on the terminal (stderr)
            assert time.monotonic() < deadline and proc.poll() is None, seen
            seen = read_some(seen)
        asked = len(seen)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        for _ in range(10):
            seen = read_some(seen)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(main)
    after = seen[asked:].decode(errors="replace").strip().splitlines()
    assert proc.returncode == 143, (proc.returncode, seen)
    assert after and after[-1].strip() == "terminated (SIGTERM)", seen
    assert files(tmp_path) == everything


def test_prune_keeps_the_newest_backup_that_really_is_intact(tmp_path):
    """A newer file whose bytes changed (same size, so it still looks verified) is not the one
    that protects the environment: the newest backup whose checksum matches stays."""
    good = fabricate(tmp_path, "good.sql", 10)
    bad = fabricate(tmp_path, "damaged.sql", 9)
    data = bytearray(bad.read_bytes())
    data[3] ^= 0x01
    bad.write_bytes(bytes(data))
    os.utime(bad, ((datetime.now(timezone.utc) - timedelta(days=9)).timestamp(),) * 2)
    r = offline("prune", "--backup-dir", str(tmp_path), "--keep-days", "0", "--yes", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert good.exists() and "good.sql" in json.loads(r.stdout)["kept"], r.stdout


def test_counts_describe_the_dump_while_the_apps_keep_writing(sandbox, namespace, tmp_path):
    """The metadata's row counts are taken in pg_dump's own snapshot: with a writer committing a
    row every few milliseconds through the whole backup, a restore of it matches them exactly."""
    secrets_init(sandbox, namespace)
    deploy_stateful(sandbox, namespace, "postgresql")
    psql(sandbox, namespace, "CREATE TABLE live (id bigserial PRIMARY KEY, at timestamptz DEFAULT now())")
    writer = subprocess.Popen(
        [sandbox.kubectl_path(), "exec", "postgresql-0", "-n", namespace, "--", "psql", "-X", "-q", "-U", "postgres", "-d", "tripgen", "-c",
         "DO $$ BEGIN FOR i IN 1..6000 LOOP INSERT INTO live DEFAULT VALUES; COMMIT; PERFORM pg_sleep(0.002); END LOOP; END $$"],
        env=sandbox.env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while int(psql(sandbox, namespace, "SELECT count(*) FROM live")) < 50:
            assert writer.poll() is None and time.monotonic() < deadline, "the writer did not start writing"
        info, path = take_backup(sandbox, namespace, tmp_path)
        assert writer.poll() is None, "the writer finished before the backup did: the test proves nothing"
    finally:
        writer.kill()
        writer.wait()
    assert info["table_counts"]["public.live"] >= 50
    copy = f"check_{uuid.uuid4().hex[:6]}"
    r = db(sandbox, namespace, "restore", str(path), "--backup-dir", str(tmp_path), "--into", copy, "--yes", "-o", "json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["counts_match"] is True
    assert int(psql(sandbox, namespace, "SELECT count(*) FROM live", copy)) == info["table_counts"]["public.live"]

"""`db backup --compress`: every method the pod's pg_dump accepts round-trips through `db restore`
with identical per-table counts and contents, locally and through the team store (Azurite); the
metadata, `db list` and `db list --store` name the method; a method the pod's pg_dump was built
without (the sandbox's pgserver build has gzip only, no lz4 or zstd) is refused with one line and
exit 2 and leaves no file; a malformed choice is refused before anything runs."""

from __future__ import annotations

import json

import pytest

from tests.e2e.test_backup import DAMAGE, SCHEMA, counts, files, one_error_line, snapshot
from tests.e2e.test_backup_store import CONN, azurite, new_store  # noqa: F401 - azurite is a fixture
from tests.helpers import cli, psql, stateful_namespace


@pytest.fixture(scope="module")
def env(sandbox):
    with stateful_namespace(sandbox, "compress", "postgresql", sql=SCHEMA) as name:
        yield name


def pod_supports(sandbox, ns: str, method: str) -> bool:
    """Asked of the pod's pg_dump directly, not through tripgenctl: a refused method names
    compression before pg_dump tries to connect."""
    proc = sandbox.kubectl("exec", "postgresql-0", "-n", ns, "--", "pg_dump", f"--compress={method}", "-h", "/nonexistent", "-d", "x")
    return "ompress" not in proc.stderr.decode()


def db(sandbox, ns: str, *args: str, env: dict | None = None):
    return cli(sandbox, "db", *args, "-n", ns, env=env, timeout=300)


def round_trip(sandbox, ns: str, backup_dir, spec: str) -> dict:
    before = snapshot(sandbox, ns)
    r = db(sandbox, ns, "backup", "--backup-dir", str(backup_dir), "--compress", spec, "-o", "json")
    assert r.returncode == 0, r.stdout + r.stderr
    info = json.loads(r.stdout)
    assert info["table_counts"] == counts(before)
    v = db(sandbox, ns, "verify", str(backup_dir / info["file"]), "-o", "json")
    assert v.returncode == 0 and json.loads(v.stdout)["ok"], v.stdout + v.stderr
    psql(sandbox, ns, DAMAGE)
    assert snapshot(sandbox, ns) != before
    back = db(sandbox, ns, "restore", str(backup_dir / info["file"]), "--yes", "--no-safety-backup", "-o", "json")
    assert back.returncode == 0, back.stdout + back.stderr
    assert json.loads(back.stdout)["counts_match"] is True
    assert snapshot(sandbox, ns) == before
    return info


@pytest.mark.parametrize("method", ["gzip", "gzip:1", "gzip:9", "none", "lz4", "zstd:3"])
def test_each_method_round_trips_or_is_refused_where_pg_dump_lacks_it(sandbox, env, tmp_path, method):
    if pod_supports(sandbox, env, method):
        info = round_trip(sandbox, env, tmp_path, method)
        assert info["compression"] == method  # the header's method, the level asked for
        listed = json.loads(db(sandbox, env, "list", "--backup-dir", str(tmp_path), "-o", "json").stdout)
        assert [e["compression"] for e in listed] == [method]
        return
    r = db(sandbox, env, "backup", "--backup-dir", str(tmp_path), "--compress", method, "-o", "json")
    assert r.returncode == 2, r.stdout + r.stderr
    line = one_error_line(r)
    assert line.startswith(f"error: --compress {method}: the pod's pg_dump does not support it") and ("LZ4" in line or "ZSTD" in line), line
    assert files(tmp_path) == []  # no dump, no roles file, no metadata


def test_sizes_follow_the_method_and_a_default_backup_records_gzip(sandbox, env, tmp_path):
    sizes = {}
    for spec in ("none", "gzip:1", "gzip:9"):
        r = db(sandbox, env, "backup", "--backup-dir", str(tmp_path), "--compress", spec, "--name", spec.replace(":", "-"), "-o", "json")
        assert r.returncode == 0, r.stderr
        sizes[spec] = json.loads(r.stdout)["size"]
    assert sizes["none"] > sizes["gzip:1"] >= sizes["gzip:9"], sizes
    r = db(sandbox, env, "backup", "--backup-dir", str(tmp_path), "--name", "default", "-o", "json")
    assert r.returncode == 0 and json.loads(r.stdout)["compression"] == "gzip", r.stdout + r.stderr
    plain = db(sandbox, env, "backup", "--backup-dir", str(tmp_path), "--format", "plain", "--name", "plain", "-o", "json")
    assert plain.returncode == 0 and json.loads(plain.stdout)["compression"] == "none", plain.stderr


@pytest.mark.parametrize("bad, says", [
    ("gzip:12", "the gzip level must be 1-9"),
    ("brotli", "expected gzip[:1-9], lz4[:1-12], zstd[:1-22] or none"),
    ("none:3", "expected gzip"),
])
def test_a_malformed_choice_is_one_line_and_exit_2(sandbox, env, tmp_path, bad, says):
    r = db(sandbox, env, "backup", "--backup-dir", str(tmp_path), "--compress", bad)
    assert r.returncode == 2 and says in one_error_line(r), r.stderr
    r = db(sandbox, env, "backup", "--backup-dir", str(tmp_path), "--format", "plain", "--compress", "gzip")
    assert r.returncode == 2 and "applies to the custom format" in one_error_line(r), r.stderr
    assert files(tmp_path) == []


def test_an_uncompressed_backup_through_the_store_round_trips(sandbox, azurite, env, tmp_path):
    before = snapshot(sandbox, env)
    _, url = new_store()
    up = db(sandbox, env, "backup", "--to", "azure", "--store", url, "--compress", "none", "--backup-dir", str(tmp_path), "-o", "json",
            env={CONN: azurite})
    assert up.returncode == 0, up.stdout + up.stderr
    stored = json.loads(up.stdout)
    listed = json.loads(db(sandbox, env, "list", "--store", url, "-o", "json", env={CONN: azurite}).stdout)
    assert [(e["file"], e["compression"]) for e in listed] == [(stored["file"], "none")]
    psql(sandbox, env, DAMAGE)
    back = db(sandbox, env, "restore", stored["url"], "--yes", "--no-safety-backup", "-o", "json", env={CONN: azurite})
    assert back.returncode == 0, back.stdout + back.stderr
    assert json.loads(back.stdout)["counts_match"] is True and snapshot(sandbox, env) == before

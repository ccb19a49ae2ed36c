"""`db drill` against the sandbox: the newest backup restored into a scratch database, the data
validation run on it, the scratch database dropped, the time to recover reported against the
30-minute target; a backup whose data breaks validation fails, naming the check. The team
store's newest backup (Azurite) drills the same way."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.e2e.test_backup_store import CONN, azurite, new_store  # noqa: F401 - azurite is a fixture
from tests.helpers import cli, postgres_only, psql


@pytest.fixture(scope="module")
def loaded(sandbox):
    name = f"drill-{uuid.uuid4().hex[:6]}"
    core = sandbox.kube().core
    core.create_namespace({"metadata": {"name": name}})
    postgres_only(sandbox, name)
    r = cli(sandbox, "data", "init", "-n", name, "--timeout", "180")
    assert r.returncode == 0, r.stdout + r.stderr
    yield name
    try:
        core.delete_namespace(name)
    except Exception:  # noqa: BLE001 - best effort
        pass


def databases(sandbox, ns: str) -> set[str]:
    return set(psql(sandbox, ns, "SELECT datname FROM pg_database", "postgres").split())


def test_drill_passes_on_a_good_backup_and_drops_its_scratch_database(sandbox, loaded, tmp_path):
    r = cli(sandbox, "db", "backup", "--backup-dir", str(tmp_path), namespace=loaded)
    assert r.returncode == 0, r.stderr
    before = databases(sandbox, loaded)
    d = cli(sandbox, "db", "drill", "--into", "drill_good", "--backup-dir", str(tmp_path), "-o", "json", namespace=loaded)
    assert d.returncode == 0, d.stdout + d.stderr
    result = json.loads(d.stdout)
    assert result["ok"] and result["within_target"] and result["target_seconds"] == 1800
    assert result["scratch_database"] == "drill_good" and result["dropped"] and result["counts_match"] is True
    assert 0 < result["recovery_seconds"] < 1800 and result["failed_checks"] == []
    assert result["validation"].startswith("all ") and "checks passed" in result["validation"]
    assert databases(sandbox, loaded) == before  # the scratch database is gone again


def test_drill_fails_naming_the_check_on_a_backup_that_breaks_validation(sandbox, loaded, tmp_path):
    live = psql(sandbox, loaded, "SELECT count(*) FROM reviews")
    psql(sandbox, loaded, "BEGIN; DELETE FROM reviews WHERE id IN (SELECT id FROM reviews ORDER BY id LIMIT 3); COMMIT")
    r = cli(sandbox, "db", "backup", "--backup-dir", str(tmp_path), namespace=loaded)
    assert r.returncode == 0, r.stderr
    d = cli(sandbox, "db", "drill", "--backup-dir", str(tmp_path), namespace=loaded)
    assert d.returncode == 1, d.stdout + d.stderr
    errors = [l for l in d.stderr.splitlines() if l.strip()]
    assert len(errors) == 1 and errors[0].startswith("error: drill of") and "count reviews" in errors[0], d.stderr
    assert not [db for db in databases(sandbox, loaded) if db.startswith("drill_")]
    assert int(psql(sandbox, loaded, "SELECT count(*) FROM reviews")) == int(live) - 3  # the live database untouched by the drill


def test_drill_of_the_stores_newest_backup(sandbox, azurite, loaded, tmp_path):
    _, url = new_store()
    r = cli(sandbox, "db", "backup", "--to", "azure", "--store", url, "--backup-dir", str(tmp_path / "local"), namespace=loaded, env={CONN: azurite})
    assert r.returncode == 0, r.stdout + r.stderr
    d = cli(sandbox, "db", "drill", "--store", url, "--backup-dir", str(tmp_path / "empty"), "-o", "json", namespace=loaded, env={CONN: azurite})
    result = json.loads(d.stdout)
    # the data in the namespace lacks 3 reviews since the test before: the store's backup says so too
    assert d.returncode == 1 and result["failed_checks"] == ["count reviews"] and result["source"] == url, d.stdout + d.stderr
    assert result["download_seconds"] >= 0 and result["restore_seconds"] > 0

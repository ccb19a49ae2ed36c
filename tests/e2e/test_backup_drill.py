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


def install_drill(sandbox, azurite, namespace: str, tmp_path, hook_url: str) -> str:
    """A store with one fresh backup of the namespace, and `schedule install --drill` with it."""
    from tests.helpers import run_tool

    _, url = new_store()
    r = cli(sandbox, "db", "backup", "--to", "azure", "--store", url, "--backup-dir", str(tmp_path / "local"), namespace=namespace, env={CONN: azurite})
    assert r.returncode == 0, r.stdout + r.stderr
    cfg = tmp_path / "tripgenctl.toml"
    cfg.write_text(f'[backup]\nstore = "{url}"\n\n[schedule]\nnotify_url = "{hook_url}"\ndrill_day = "SAT"\ndrill_time = "04:30"\n')
    r = run_tool("schedule", "install", "--drill", namespace=namespace, env=sandbox.env(TRIPGENCTL_CONFIG=str(cfg), **{CONN: azurite}))
    assert r.returncode == 0, r.stdout + r.stderr
    job = sandbox.kube(namespace).get_object("batch/v1", "CronJob", "tripgen-weekly-drill")
    assert job["spec"]["schedule"] == "30 4 * * SAT" and job["spec"]["timeZone"] == "Asia/Seoul"
    return url


def test_the_weekly_drill_cronjob_restores_the_stores_newest_backup_in_a_pod(sandbox, azurite, loaded, tmp_path):
    """`schedule install --drill` adds the weekly CronJob; a Job made from it drills in a pod, held
    to the schedule's Role (exec on postgresql-0 only, no port-forward: validation goes over the
    Service), and a passing drill is not announced."""
    from tests.e2e.test_schedule_incluster import exit_code, run_job
    from tests.unit.test_schedule_logic import Hook

    hook = Hook()
    try:
        install_drill(sandbox, azurite, loaded, tmp_path, hook.url)
        condition, log, pod = run_job(sandbox, loaded, "drill-now", timeout=300, cronjob="tripgen-weekly-drill")
    finally:
        hook.close()
    assert condition == "Complete" and exit_code(pod) == 0, log
    assert "recovered in" in log and "all" in log and "checks passed" in log, log
    assert "AccountKey" not in log and not hook.bodies
    assert not [db for db in databases(sandbox, loaded) if db.startswith("drill_")]


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


def test_a_failing_weekly_drill_in_a_pod_fails_its_job_and_notifies(sandbox, azurite, loaded, tmp_path):
    """The namespace now lacks 3 reviews (an earlier test): its backup breaks validation, so the
    drill Job fails and the webhook hears which check, like any failed scheduled run."""
    from tests.e2e.test_schedule_incluster import exit_code, run_job
    from tests.unit.test_schedule_logic import Hook

    hook = Hook()
    try:
        install_drill(sandbox, azurite, loaded, tmp_path, hook.url)
        condition, log, pod = run_job(sandbox, loaded, "drill-bad", timeout=300, cronjob="tripgen-weekly-drill")
        assert hook.arrived.wait(10), log
    finally:
        hook.close()
    assert condition == "Failed" and exit_code(pod) == 1, log
    body = hook.bodies[0]
    assert body["action"] == "drill" and body["result"] == "failed" and "count reviews" in body["text"], body
    assert "AccountKey" not in log + json.dumps(hook.bodies)

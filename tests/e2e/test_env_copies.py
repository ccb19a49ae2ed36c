"""A copy of an environment per developer, against the sandbox (two 1900m / 2.6 GiB nodes, as
the SPEC's two B2s, with AKS's kube-system add-ons taking their share): a full copy does not
fit beside the environment and is refused with the numbers; `--apps-only` then fits once the
source sleeps (its apps at 0, its databases up) and its apps use a database of their own in the
source's PostgreSQL, filled from the source's newest verified backup; `--env NAME` acts only on
the copy; a full copy made while the source sleeps with its databases down has its own
PostgreSQL with the backup's rows; an expired copy is reported by doctor and removed by `env gc`
(safety backup first)."""

from __future__ import annotations

import json
import uuid

import pytest
from kubernetes.client.exceptions import ApiException

from tests.helpers import cli, psql, secrets_init
from tripgenctl.ops import envcopy


def wait_for_terminating_namespaces(sandbox, timeout: float = 180) -> None:
    """Earlier tests delete their namespaces without waiting; their pods still hold node capacity
    until they are gone, and these tests are about capacity."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        items = sandbox.kube().list_json("/api/v1/namespaces")
        if not any((n.get("status") or {}).get("phase") == "Terminating" for n in items):
            return
        time.sleep(1)


@pytest.fixture
def source(sandbox, tmp_path):
    """A deployed environment with sample data and one verified backup, named `dev` in a config."""
    wait_for_terminating_namespaces(sandbox)
    ns = f"copysrc-{uuid.uuid4().hex[:5]}"
    sandbox.kube().core.create_namespace({"metadata": {"name": ns}})
    secrets_init(sandbox, ns)
    backups = tmp_path / "backups"
    config = tmp_path / "tripgenctl.toml"
    config.write_text(f'default_environment = "dev"\n[environments.dev]\nnamespace = "{ns}"\ncontext = "tripgen-sandbox"\n'
                      f'backup_dir = "{backups}"\n')
    env = {"TRIPGENCTL_CONFIG": str(config)}
    for step in (("deploy", "--timeout", "400"), ("data", "init", "--timeout", "300"), ("db", "backup")):
        r = cli(sandbox, *step, env=env, timeout=600)
        assert r.returncode == 0, (step, r.stdout, r.stderr)
    meta = json.loads(next(backups.glob("*.json")).read_text())
    yield ns, env, meta["table_counts"]
    for copy in envcopy.copies(sandbox.kube(), ns):
        try:
            sandbox.kube().core.delete_namespace(copy["metadata"]["name"])
        except ApiException as exc:  # a copy the test deleted may be gone between the list and this delete
            if exc.status != 404:
                raise
    sandbox.kube().core.delete_namespace(ns)


def counts(sandbox, ns: str, database: str) -> dict[str, int]:
    rows = psql(sandbox, ns, "SELECT relname, n_live_tup FROM pg_stat_user_tables", database=database)
    tables = [line.split("|")[0] for line in rows.splitlines() if line]
    return {f"public.{t}": int(psql(sandbox, ns, f'SELECT count(*) FROM "{t}"', database=database)) for t in tables}


def test_capacity_refusal_then_apps_only_copy_and_gc(sandbox, source):
    ns, env, backup_counts = source
    full = cli(sandbox, "env", "create", "alice", "--from", "dev", "--data", "latest", "--ttl", "1d", "--yes", env=env)
    assert full.returncode == 1, full.stdout + full.stderr
    line = full.stderr.strip().splitlines()[-1]
    assert "requests" in line and "CPU" in line and "free" in line and "--apps-only" in line, line
    assert not envcopy.copies(sandbox.kube(), ns)  # nothing was created

    assert cli(sandbox, "down", "--yes", env=env).returncode == 0  # the source sleeps: apps at 0, databases up
    made = cli(sandbox, "env", "create", "alice", "--from", "dev", "--data", "latest", "--ttl", "1d", "--apps-only", "--yes",
               "-o", "json", env=env, timeout=900)
    assert made.returncode == 0, made.stdout + made.stderr
    result = json.loads(made.stdout)
    assert result["ready"] and result["namespace"] == f"{ns}-alice" and result["apps_only"]
    assert result["table_counts"] == backup_counts
    assert counts(sandbox, ns, "tripgen_alice") == backup_counts  # its own database in the source's server

    st = cli(sandbox, "--env", "alice", "status", "-o", "json", env=env)
    assert st.returncode == 0, st.stderr
    status = json.loads(st.stdout)
    assert status["namespace"] == f"{ns}-alice" and status["overall"] == "UP"
    assert {w["name"] for w in status["workloads"]} == {"user-service", "trip-service", "ai-service", "location-service"}
    down = cli(sandbox, "--env", "alice", "down", "--yes", env=env)
    assert down.returncode == 0, down.stdout + down.stderr
    assert cli(sandbox, "--env", "alice", "up", "--yes", env=env).returncode == 0
    copy_status = json.loads(cli(sandbox, "--env", "alice", "status", "-o", "json", env=env).stdout)
    assert copy_status["overall"] == "UP" and copy_status["namespace"] == f"{ns}-alice"
    source_status = json.loads(cli(sandbox, "status", "-o", "json", env=env).stdout)
    assert source_status["overall"] == "DOWN"  # the copy's down and up never touched the sleeping source

    sandbox.kubectl("annotate", "namespace", f"{ns}-alice", f"{envcopy.EXPIRES_ANNOTATION}=2020-01-01T00:00:00Z", "--overwrite", check=True)
    doctor = cli(sandbox, "doctor", "--only", "copies", "-o", "json", env=env)
    findings = json.loads(doctor.stdout)["findings"]
    assert [f["object"] for f in findings if f["check"] == "copies"] == [f"namespace/{ns}-alice"], doctor.stdout
    refused = cli(sandbox, "env", "gc", env=env)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    gc = cli(sandbox, "env", "gc", "--yes", "-o", "json", env=env)
    assert gc.returncode == 0, gc.stdout + gc.stderr
    assert [r["namespace"] for r in json.loads(gc.stdout)["removed"]] == [f"{ns}-alice"]
    assert "tripgen_alice" not in psql(sandbox, ns, "SELECT datname FROM pg_database", database="postgres").split()


def test_full_copy_while_the_source_sleeps(sandbox, source, tmp_path):
    ns, env, backup_counts = source
    assert cli(sandbox, "down", "--yes", "--include-data", env=env).returncode == 0  # asleep, databases too
    made = cli(sandbox, "env", "create", "bob", "--from", "dev", "--data", "latest", "--ttl", "2h", "--yes", "-o", "json",
               env=env, timeout=900)
    assert made.returncode == 0, made.stdout + made.stderr
    result = json.loads(made.stdout)
    assert result["ready"] and not result["apps_only"] and result["table_counts"] == backup_counts
    assert counts(sandbox, f"{ns}-bob", "tripgen") == backup_counts  # its own PostgreSQL
    labels = sandbox.kube().core.read_namespace(f"{ns}-bob").metadata
    assert labels.labels[envcopy.SOURCE_LABEL] == ns and envcopy.EXPIRES_ANNOTATION in labels.annotations

    deleted = cli(sandbox, "env", "delete", "bob", "--yes", "-o", "json", env=env)
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    removal = json.loads(deleted.stdout)["removed"][0]
    assert removal["result"] == "deleted" and removal["safety_backup"].startswith("pre-delete-")
    assert (tmp_path / "backups" / removal["safety_backup"]).exists()

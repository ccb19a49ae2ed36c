"""doctor's `backup` check: critical with no verified backup of the namespace, a warning when the
newest is older than [backup] max_age_days, no finding after a fresh one (local or in the team
store on Azurite)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from tests.e2e.test_backup_store import CONN, azurite, new_store  # noqa: F401 - azurite is a fixture
from tests.helpers import cli, deploy_stateful, psql, secrets_init


def doctor(sandbox, namespace: str, config: Path, conn: str):
    r = cli(sandbox, "doctor", "--only", "backup", "-o", "json", namespace=namespace,
            env={"TRIPGENCTL_CONFIG": str(config), CONN: conn})
    assert "Traceback" not in r.stderr, r.stderr
    return r.returncode, [f for f in json.loads(r.stdout)["findings"] if f["check"] == "backup"]


def test_backup_age_none_old_and_fresh(sandbox, azurite, namespace, tmp_path):
    secrets_init(sandbox, namespace)
    deploy_stateful(sandbox, namespace, "postgresql")
    psql(sandbox, namespace, "CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2);")
    local = tmp_path / "local"
    config = tmp_path / "c.toml"
    config.write_text(f'[backup]\ndir = "{local}"\nmax_age_days = 7\n')

    code, found = doctor(sandbox, namespace, config, azurite)
    assert code == 1 and [(f["severity"], f["title"]) for f in found] == [("critical", "no verified backup of this environment")]

    r = cli(sandbox, "db", "backup", "--backup-dir", str(local), "-o", "json", namespace=namespace)
    assert r.returncode == 0, r.stderr
    meta_file = local / (json.loads(r.stdout)["file"] + ".json")
    meta = json.loads(meta_file.read_text())
    meta["finished_at"] = (datetime.now(timezone.utc) - timedelta(days=9)).strftime("%Y-%m-%dT%H:%M:%SZ")
    meta_file.write_text(json.dumps(meta))
    code, found = doctor(sandbox, namespace, config, azurite)
    assert code == 0 and [f["severity"] for f in found] == ["warning"], found
    assert "9.0 days old (more than 7)" in found[0]["title"]

    # a fresh one in the team store counts as well
    _, url = new_store()
    config.write_text(f'[backup]\ndir = "{local}"\nstore = "{url}"\n')
    r = cli(sandbox, "db", "backup", "--to", "azure", "--backup-dir", str(tmp_path / "elsewhere"), namespace=namespace, env={CONN: azurite, "TRIPGENCTL_CONFIG": str(config)})
    assert r.returncode == 0, r.stdout + r.stderr
    code, found = doctor(sandbox, namespace, config, azurite)
    assert code == 0 and [(f["severity"], f["title"]) for f in found] == [("ok", "no problem found")], found

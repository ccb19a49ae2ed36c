"""data init's pure parts: the ConfigMaps built from sql/, the Jobs' order and shape, and how a
failing pod is read (psql error line, fatal waiting states)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tripgenctl.errors import UsageError
from tripgenctl.ops import data, jobs

SQL = Path(__file__).resolve().parents[2] / "sql"


def test_configmaps_carry_the_sql_files_verbatim():
    cms = data.script_configmaps("ns1")
    assert [c["metadata"]["name"] for c in cms] == ["database-init-scripts", "sample-data-scripts"]
    for cm in cms:
        assert cm["metadata"]["namespace"] == "ns1"
        for name, text in cm["data"].items():
            assert text == (SQL / name).read_text()
    assert set(cms[0]["data"]) == {"schema.sql", "validate.sql"}
    assert set(cms[1]["data"]) == {"users.sql", "locations.sql", "ai-test-data.sql"}


def test_configmaps_refuse_a_directory_without_the_files(tmp_path):
    with pytest.raises(UsageError, match="schema.sql not found"):
        data.script_configmaps("ns1", tmp_path)


def test_jobs_in_order_with_the_runbook_contract():
    objs = data.ordered_jobs("ns1")
    assert [o["metadata"]["name"] for o in objs] == ["database-schema-init", "sample-data-load", "data-validation"]
    files = {"database-schema-init": ["/scripts/schema.sql"], "sample-data-load": ["/scripts/users.sql", "/scripts/locations.sql", "/scripts/ai-test-data.sql"],
             "data-validation": ["/scripts/validate.sql"]}
    for o in objs:
        spec = o["spec"]
        pod = spec["template"]["spec"]
        assert spec["backoffLimit"] == 3 and pod["restartPolicy"] == "Never"
        assert pod["initContainers"][0]["name"] == "wait-for-postgresql"
        assert "pg_isready" in pod["initContainers"][0]["command"][-1]
        main = pod["containers"][0]
        cmd = main["command"]
        assert cmd[:3] == ["psql", "-v", "ON_ERROR_STOP=1"]
        assert [cmd[i + 1] for i, a in enumerate(cmd) if a == "-f"] == files[o["metadata"]["name"]]
        if o["metadata"]["name"] != "data-validation":
            assert "--single-transaction" in cmd
        env = {e["name"]: e for e in main["env"]}
        assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "postgresql-secret", "key": "password"}
        assert env["PGUSER"]["valueFrom"]["secretKeyRef"]["key"] == "username"
        assert env["PGDATABASE"]["valueFrom"]["secretKeyRef"]["key"] == "database"
        assert env["PGHOST"]["value"] == "postgresql.ns1.svc.cluster.local"
        assert o["spec"]["template"]["metadata"]["labels"]["tripgenctl.io/db-client"] == "true"
        # no SQL copied into the YAML: the scripts come from the generated ConfigMaps
        assert pod["volumes"][0]["configMap"]["name"] in data.CONFIGMAPS


def test_error_line_keeps_file_and_line_and_drops_the_mount_path():
    lines = ["CREATE TABLE", 'psql:/var/lib/sandbox/pods/x/scripts/schema.sql:144: ERROR:  type "no_such_type" does not exist', "LINE 2: ..."]
    assert jobs.error_line(lines) == 'schema.sql:144: ERROR: type "no_such_type" does not exist'
    assert jobs.error_line(["psql: error: connection to server failed: FATAL:  password authentication failed for user \"postgres\""]) == (
        'FATAL: password authentication failed for user "postgres"')
    assert jobs.error_line(["all good"]) == ""


def test_fatal_states_are_recognised_in_init_and_main_containers():
    pod = {"status": {"initContainerStatuses": [{"name": "wait-for-postgresql", "state": {"waiting": {"reason": "ImagePullBackOff", "message": "manifest unknown"}}}]}}
    assert jobs.fatal_state(pod) == ("wait-for-postgresql", "ImagePullBackOff", "manifest unknown")
    assert jobs.fatal_state({"status": {"containerStatuses": [{"name": "psql", "state": {"waiting": {"reason": "ContainerCreating"}}}]}}) is None
    assert jobs.fatal_state({"status": {"containerStatuses": [{"name": "psql", "state": {"waiting": {"reason": "CreateContainerConfigError"}}}]}})[1] == "CreateContainerConfigError"


def test_outcome_ok_only_for_complete_or_skipped():
    assert jobs.JobOutcome("a", "Complete").ok and jobs.JobOutcome("a", "Skipped").ok
    assert not jobs.JobOutcome("a", "Failed").ok and not jobs.JobOutcome("a", "Timeout").ok


def test_jobs_and_configmaps_are_valid_kubernetes_1_29_objects():
    import kubernetes_validate

    for obj in data.ordered_jobs("tripgen-dev") + data.script_configmaps("tripgen-dev"):
        kubernetes_validate.validate(obj, "1.29", strict=True)

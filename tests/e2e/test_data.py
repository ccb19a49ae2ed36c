"""`tripgenctl data init | validate | reset` through the real CLI against the sandbox: the three
Jobs in order, validation through a port-forward, re-run safety, a failing schema shown with its
psql error line and nothing loaded, a clear timeout when PostgreSQL is scaled to 0, reset."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pytest

from tests.helpers import cli, postgres_only, psql
from tripgenctl.ops import waiting

SQL = Path(__file__).resolve().parents[2] / "sql"
JOBS = ["database-schema-init", "sample-data-load", "data-validation"]


def secret_values(sandbox, namespace: str) -> list[str]:
    import base64

    proc = sandbox.kubectl("get", "secret", "postgresql-secret", "-n", namespace, "-o", "json", check=True)
    data = json.loads(proc.stdout)["data"]
    return [base64.b64decode(v).decode() for k, v in data.items() if k == "password"]


@pytest.fixture(scope="module")
def db_namespace(sandbox):
    name = f"data-{uuid.uuid4().hex[:6]}"
    core = sandbox.kube().core
    core.create_namespace({"metadata": {"name": name}})
    postgres_only(sandbox, name)
    proc = cli(sandbox, "data", "init", "-n", name, "--timeout", "180")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    yield name
    try:
        core.delete_namespace(name)
    except Exception:  # noqa: BLE001 - best effort
        pass


def test_init_runs_the_three_jobs_in_order_and_validate_passes(sandbox, namespace):
    ns = namespace
    postgres_only(sandbox, ns)
    proc = cli(sandbox, "data", "init", "-n", ns, "--timeout", "180", "-o", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert result["ok"] and not result["skipped"]
    assert [j["job"] for j in result["jobs"]] == JOBS and {j["status"] for j in result["jobs"]} == {"Complete"}
    assert result["configmaps"] == ["database-init-scripts", "sample-data-scripts"]
    # in order: each Job finished before the next was created
    jobs = json.loads(sandbox.kubectl("get", "jobs", "-n", ns, "-o", "json", check=True).stdout)["items"]
    by_name = {j["metadata"]["name"]: j for j in jobs}
    for first, second in zip(JOBS, JOBS[1:]):
        assert by_name[first]["status"]["completionTime"] <= by_name[second]["metadata"]["creationTimestamp"]
    # the ConfigMaps carry sql/ verbatim (one source)
    cm = json.loads(sandbox.kubectl("get", "cm", "sample-data-scripts", "-n", ns, "-o", "json", check=True).stdout)
    assert cm["data"]["users.sql"] == (SQL / "users.sql").read_text()
    log = sandbox.kubectl("logs", "job/data-validation", "-n", ns, check=True).stdout.decode()
    assert "connected to tripgen" in log and "FAIL" not in log

    val = cli(sandbox, "data", "validate", "-n", ns, "-o", "json")
    assert val.returncode == 0, val.stdout + val.stderr
    report = json.loads(val.stdout)
    assert report["ok"] and report["failed"] == 0 and report["passed"] > 40
    counts = {c["check"]: c["found"] for c in report["checks"]}
    assert counts["count users"] == "10" and counts["count locations (destinations)"] == "100"
    assert counts["count places"] == "500" and counts["count reviews"] == "500" and counts["count user_preferences"] == "50"
    assert counts["count itineraries"] == "20" and counts["count itinerary_templates"] == "30"
    assert counts["seasonal months (distinct)"] == "12"
    assert counts["user poweruser"] == "role=POWER_USER trips=7"
    table = cli(sandbox, "data", "validate", "-n", ns)
    assert table.returncode == 0 and "count reviews" in table.stdout and "pass" in table.stdout
    for secret in secret_values(sandbox, ns):
        assert secret not in proc.stdout + proc.stderr + val.stdout + val.stderr + table.stdout


def test_rerun_is_safe_and_says_so(sandbox, db_namespace):
    ns = db_namespace
    before = psql(sandbox, ns, "SELECT count(*) FROM reviews")
    proc = cli(sandbox, "data", "init", "-n", ns, "--timeout", "60")
    assert proc.returncode == 0, proc.stderr
    assert "already initialised" in proc.stdout and "--force" in proc.stdout
    assert psql(sandbox, ns, "SELECT count(*) FROM reviews") == before


def test_deleting_three_reviews_fails_exactly_the_review_count(sandbox, db_namespace, tmp_path):
    ns = db_namespace
    psql(sandbox, ns, "DELETE FROM reviews WHERE id IN (SELECT id FROM reviews ORDER BY id LIMIT 3)")
    proc = cli(sandbox, "data", "validate", "-n", ns, "-o", "json", "--expect-sample")
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    failed = [(c["check"], c["expected"], c["found"]) for c in report["checks"] if c["result"] != "pass"]
    assert failed == [("count reviews", "500", "497")]
    table = cli(sandbox, "data", "validate", "-n", ns, "--expect-sample")
    assert table.returncode == 1
    assert "error: 1 of" in table.stderr and "count reviews: expected 500, found 497" in table.stderr
    # below the sample's count is below the default minimum as well
    at_least = cli(sandbox, "data", "validate", "-n", ns, "-o", "json")
    assert at_least.returncode == 1
    failed = [(c["check"], c["expected"], c["found"]) for c in json.loads(at_least.stdout)["checks"] if c["result"] != "pass"]
    assert failed == [("count reviews", "at least 500", "497")]

    # --force replaces the old Jobs cleanly and reloads
    forced = cli(sandbox, "data", "init", "-n", ns, "--force", "--yes", "--backup-dir", str(tmp_path), "--timeout", "180", "-o", "json")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert "replaced the Job of a previous run" in forced.stderr
    assert cli(sandbox, "data", "validate", "-n", ns).returncode == 0
    pods = json.loads(sandbox.kubectl("get", "pods", "-n", ns, "-l", "app.kubernetes.io/component=data-init", "-o", "json", check=True).stdout)["items"]
    uids = {p["metadata"]["labels"]["controller-uid"] for p in pods if not p["metadata"].get("deletionTimestamp")}
    assert len(uids) == 3  # only the new Jobs' pods remain


def test_a_user_added_by_hand_passes_and_an_orphan_fails(sandbox, db_namespace):
    """Issue 17: `data validate` demanded users = 10, so it failed on every database in use;
    integrity (orphans) must still fail it."""
    ns = db_namespace
    assert cli(sandbox, "data", "validate", "-n", ns).returncode == 0
    psql(sandbox, ns, "INSERT INTO users (username, email, password_hash, role, display_name) "
                      "SELECT 'newbie', 'newbie@example.com', password_hash, 'USER', 'Newbie' FROM users WHERE username = 'admin'")
    try:
        used = cli(sandbox, "data", "validate", "-n", ns, "-o", "json")
        assert used.returncode == 0, used.stdout + used.stderr
        checks = {c["check"]: c for c in json.loads(used.stdout)["checks"]}
        assert (checks["count users"]["expected"], checks["count users"]["found"], checks["count users"]["result"]) == ("at least 10", "11", "pass")
        exact = cli(sandbox, "data", "validate", "-n", ns, "--expect-sample")
        assert exact.returncode == 1 and "count users: expected 10, found 11" in exact.stderr, exact.stderr

        psql(sandbox, ns, "SET session_replication_role = replica; "  # foreign keys are triggers: off for this statement
                          "INSERT INTO reviews (user_id, place_id, rating) SELECT 999999, min(id), 4 FROM places")
        broken = cli(sandbox, "data", "validate", "-n", ns, "-o", "json")
        assert broken.returncode == 1, broken.stdout + broken.stderr
        failed = [(c["check"], c["kind"], c["found"]) for c in json.loads(broken.stdout)["checks"] if c["result"] != "pass"]
        assert failed == [("no orphans reviews.user_id -> users", "integrity", "1")]
        table = cli(sandbox, "data", "validate", "-n", ns)
        assert table.returncode == 1 and "no orphans reviews.user_id -> users: expected 0, found 1" in table.stderr, table.stderr
    finally:
        psql(sandbox, ns, "DELETE FROM reviews WHERE user_id = 999999; DELETE FROM users WHERE username = 'newbie'")
    assert cli(sandbox, "data", "validate", "-n", ns, "--expect-sample").returncode == 0


def test_reset_confirms_then_drops_and_reloads(sandbox, db_namespace):
    ns = db_namespace
    refused = cli(sandbox, "data", "reset", "-n", ns)  # no terminal, no --yes
    assert refused.returncode == 2 and "--yes" in refused.stderr
    psql(sandbox, ns, "CREATE TABLE stray (x int)")
    proc = cli(sandbox, "data", "reset", "-n", ns, "--yes", "--no-backup", "--timeout", "180")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert psql(sandbox, ns, "SELECT to_regclass('public.stray') IS NULL") == "t"
    assert psql(sandbox, ns, "SELECT count(*) FROM users") == "10"


def test_reset_takes_a_backup_first(sandbox, db_namespace, tmp_path):
    from tripgenctl.ops import data

    if not data.backup_available():
        pytest.fail("tripgenctl.ops.backup is part of this repository")
    proc = cli(sandbox, "data", "reset", "-n", db_namespace, "--yes", "--backup-dir", str(tmp_path), "--timeout", "180", "-o", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert result["backup_file"] and Path(result["backup_file"]).exists()
    assert Path(result["backup_file"]).name.startswith("pre-reset-")
    assert result["init"]["ok"]


def test_schema_error_exits_1_with_the_psql_error_line_and_loads_nothing(sandbox, namespace, tmp_path):
    postgres_only(sandbox, namespace)
    bad = tmp_path / "sql"
    shutil.copytree(SQL, bad)
    schema = (bad / "schema.sql").read_text()
    (bad / "schema.sql").write_text(schema.replace("CREATE TABLE reviews (", "CREATE TABLE reviews (\n    oops no_such_type,", 1))
    line = next(i for i, l in enumerate((bad / "schema.sql").read_text().splitlines(), 1) if "oops no_such_type" in l)
    proc = cli(sandbox, "data", "init", "-n", namespace, "--sql-dir", str(bad), "--timeout", "120")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    # psql names the file and the line where the failing statement ends
    end = next(i for i, l in enumerate((bad / "schema.sql").read_text().splitlines(), 1) if i > line and l.startswith(");"))
    assert f'error line: schema.sql:{end}: ERROR: type "no_such_type" does not exist' in proc.stderr, proc.stderr
    assert "BackoffLimitExceeded" in proc.stderr and "database-schema-init" in proc.stderr
    assert "Not run" in proc.stdout  # the next Jobs were not started
    assert sandbox.kubectl("get", "job", "sample-data-load", "-n", namespace).returncode != 0
    # one transaction: not even the tables before the error exist, and no sample data
    assert psql(sandbox, namespace, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == "0"


def test_sample_load_failing_half_way_leaves_zero_rows(sandbox, namespace, tmp_path):
    postgres_only(sandbox, namespace)
    bad = tmp_path / "sql"
    shutil.copytree(SQL, bad)
    text = (bad / "ai-test-data.sql").read_text()
    cut = text.index("INSERT INTO reviews")
    (bad / "ai-test-data.sql").write_text(text[:cut] + "INSERT INTO reviews (id, user_id, place_id, rating) VALUES (1, 1, 1, 9);\n" + text[cut:])
    proc = cli(sandbox, "data", "init", "-n", namespace, "--sql-dir", str(bad), "--timeout", "120", "-o", "json")
    assert proc.returncode == 1
    result = json.loads(proc.stdout)
    assert [(j["job"], j["status"]) for j in result["jobs"]] == [("database-schema-init", "Complete"), ("sample-data-load", "Failed"), ("data-validation", "Not run")]
    assert "reviews_rating_1_5" in result["jobs"][1]["error_line"]
    rows = psql(sandbox, namespace, "SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM locations) + (SELECT count(*) FROM places)"
                                    " + (SELECT count(*) FROM itineraries) + (SELECT count(*) FROM reviews)")
    assert rows == "0"


def test_postgres_scaled_to_zero_times_out_clearly(sandbox, namespace):
    postgres_only(sandbox, namespace)
    sandbox.kubectl("scale", "statefulset/postgresql", "--replicas=0", "-n", namespace, check=True)
    kube = sandbox.kube(namespace)
    assert waiting.wait_deleted(kube, waiting.pods_path(kube), "postgresql-0", timeout=90)
    proc = cli(sandbox, "data", "init", "-n", namespace, "--timeout", "3", timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        f"error: timed out after 3s waiting for PostgreSQL: pod postgresql-0 in namespace {namespace} is not Ready "
        "(scaled to 0? run `tripgenctl up`); no Job was started")
    assert sandbox.kubectl("get", "jobs", "-n", namespace, "-o", "name").stdout.strip() == b""


def test_image_that_cannot_be_pulled_fails_fast_with_the_reason(sandbox, namespace, tmp_path):
    postgres_only(sandbox, namespace)
    config = tmp_path / "tripgenctl.toml"
    config.write_text('[images]\npsql = "tripgendev.azurecr.io/no-such-image:0"\n')
    proc = cli(sandbox, "data", "init", "-n", namespace, "--timeout", "120", "-o", "json", env={"TRIPGENCTL_CONFIG": str(config)})
    assert proc.returncode == 1, proc.stderr
    first = json.loads(proc.stdout)["jobs"][0]
    assert first["job"] == "database-schema-init" and first["status"] == "Failed"
    assert "psql: ErrImagePull" in first["reason"] or "psql: ImagePullBackOff" in first["reason"], first["reason"]
    assert first["seconds"] < 60

"""sql/ against a real local PostgreSQL 16 (the pgserver wheel's binaries): the schema loads, the
sample data loads in one transaction, a load failing half-way leaves nothing, and the validation
checks (tripgenctl/ops/validation.py and the Job's validate.sql) pass on good data and point at
exactly what is wrong on bad data."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

import psycopg  # noqa: E402

from tripgenctl.ops import validation  # noqa: E402

SQL = Path(__file__).resolve().parents[2] / "sql"
SAMPLE_FILES = ["users.sql", "locations.sql", "ai-test-data.sql"]


def pg_bin() -> Path:
    import pgserver

    return Path(pgserver.__file__).parent / "pginstall" / "bin"


class LocalPostgres:
    """initdb + postgres on a private Unix socket, run as an unprivileged user (we may be root)."""

    def __init__(self, base: Path):
        self.base = base
        self.data = base / "data"
        self.port = 5432
        self.bin = pg_bin()

    def _cmd(self, *argv: str) -> list[str]:
        if os.geteuid() == 0:
            return ["unshare", "--map-user=65534", "--map-group=65534", *argv]
        return list(argv)

    def start(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        os.chmod(self.base, 0o777)
        subprocess.run(self._cmd(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync",
                                 "-E", "UTF8", "--locale=C"), check=True, capture_output=True)
        opts = f"-k {self.base} -c listen_addresses='' -p {self.port} -c fsync=off -c full_page_writes=off"
        subprocess.run(self._cmd(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", opts, "-l", str(self.base / "log"), "-w", "start"),
                       check=True, capture_output=True)

    def stop(self) -> None:
        subprocess.run(self._cmd(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"), capture_output=True)

    def connect(self, dbname: str = "postgres", **kw):
        return psycopg.connect(host=str(self.base), port=self.port, user="postgres", dbname=dbname, **kw)

    def create_db(self) -> str:
        name = f"t_{uuid.uuid4().hex[:10]}"
        with self.connect(autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def psql(self, dbname: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.bin / "psql"), "-X", "-q", "-h", str(self.base), "-p", str(self.port), "-U", "postgres",
                               "-d", dbname, "-v", "ON_ERROR_STOP=1", *args], capture_output=True, text=True, cwd=SQL)


@pytest.fixture(scope="module")
def pg(tmp_path_factory):
    if shutil.which("unshare") is None and os.geteuid() == 0:
        pytest.fail("unshare is needed to run PostgreSQL as root")
    server = LocalPostgres(tmp_path_factory.mktemp("pg"))
    server.start()
    yield server
    server.stop()


def load_schema(pg: LocalPostgres, db: str, schema: str = "schema.sql") -> subprocess.CompletedProcess:
    return pg.psql(db, "--single-transaction", "-f", schema)


def load_sample(pg: LocalPostgres, db: str, files: list[str] | None = None) -> subprocess.CompletedProcess:
    args: list[str] = ["--single-transaction"]
    for f in files or SAMPLE_FILES:
        args += ["-f", f]
    return pg.psql(db, *args)


@pytest.fixture(scope="module")
def loaded(pg) -> str:
    db = pg.create_db()
    res = load_schema(pg, db)
    assert res.returncode == 0, res.stderr
    res = load_sample(pg, db)
    assert res.returncode == 0, res.stderr
    return db


def counts(pg: LocalPostgres, db: str) -> dict[str, int]:
    with pg.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()]
        return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}


def test_sample_data_matches_the_spec_and_every_check_passes(pg, loaded):
    c = counts(pg, loaded)
    assert (c["users"], c["locations"], c["places"], c["itineraries"], c["itinerary_templates"], c["user_preferences"], c["reviews"]) == (
        10, 100, 500, 20, 30, 50, 500)
    with pg.connect(loaded) as conn:
        report = validation.validate_connection(conn)
        roles = dict(conn.execute("SELECT username, role FROM users").fetchall())
        trips = dict(conn.execute("SELECT u.username, count(i.id) FROM users u LEFT JOIN itineraries i ON i.user_id = u.id GROUP BY 1").fetchall())
        months = conn.execute("SELECT count(DISTINCT month) FROM seasonal_patterns").fetchone()[0]
        durations = {r[0] for r in conn.execute("SELECT duration_days FROM itinerary_templates").fetchall()}
        by_region = dict(conn.execute("SELECT region, count(*) FROM locations GROUP BY 1").fetchall())
    assert report.ok, report.message
    assert report.failed == 0 and report.passed == len(report.checks) > 40
    assert {k: roles[k] for k in ("admin", "testuser1", "testuser2", "poweruser")} == {
        "admin": "ADMIN", "testuser1": "USER", "testuser2": "USER", "poweruser": "POWER_USER"}
    assert (trips["admin"], trips["testuser1"], trips["testuser2"], trips["poweruser"]) == (5, 3, 2, 7)
    assert months == 12
    assert durations == set(range(1, 8))
    assert set(by_region) == {"SEOUL", "BUSAN", "JEJU", "ABROAD"} and sum(by_region.values()) == 100


def test_deleting_three_reviews_fails_exactly_the_review_count(pg):
    db = pg.create_db()
    assert load_schema(pg, db).returncode == 0
    assert load_sample(pg, db).returncode == 0
    with pg.connect(db, autocommit=True) as conn:
        conn.execute("DELETE FROM reviews WHERE id IN (SELECT id FROM reviews ORDER BY id LIMIT 3)")
        report = validation.validate_connection(conn, expect_sample=True)
        at_least = validation.validate_connection(conn)
    failed = [r for r in report.checks if not r.ok]
    assert [(r.check, r.expected, r.found) for r in failed] == [("count reviews", "500", "497")]
    assert not report.ok and "count reviews: expected 500, found 497" in report.message
    # fewer than the sample is below the minimum too
    assert [(r.check, r.expected, r.found) for r in at_least.checks if not r.ok] == [("count reviews", "at least 500", "497")]
    assert not at_least.ok and at_least.sample == "at least"
    # the Job's script says the same and exits non-zero
    res = pg.psql(db, "-f", "validate.sql")
    assert res.returncode != 0
    assert "validation failed: count reviews: expected 500, found 497" in res.stderr


def test_validate_sql_job_script_passes_on_good_data(pg, loaded):
    res = pg.psql(loaded, "-f", "validate.sql")
    assert res.returncode == 0, res.stderr
    assert "FAIL" not in res.stdout and res.stdout.count("| pass") >= 40
    assert "connected to" in res.stdout


def test_load_failing_half_way_leaves_zero_rows(pg, tmp_path):
    db = pg.create_db()
    assert load_schema(pg, db).returncode == 0
    # ai-test-data.sql broken in its middle: users and locations (and part of it) ran before
    text = (SQL / "ai-test-data.sql").read_text()
    cut = text.index("INSERT INTO reviews")
    broken = tmp_path / "ai-test-data.sql"
    broken.write_text(text[:cut] + "INSERT INTO reviews (id, user_id, place_id, rating) VALUES (1, 1, 1, 9);\n" + text[cut:])
    res = load_sample(pg, db, ["users.sql", "locations.sql", str(broken)])
    assert res.returncode != 0
    assert re.search(r"ai-test-data\.sql:\d+: ERROR:.*reviews_rating_1_5", res.stderr), res.stderr
    assert set(counts(pg, db).values()) == {0}, counts(pg, db)


def test_schema_error_rolls_back_the_whole_schema(pg, tmp_path):
    db = pg.create_db()
    bad = tmp_path / "schema.sql"
    text = (SQL / "schema.sql").read_text()
    bad.write_text(text.replace("CREATE TABLE reviews (", "CREATE TABLE reviews (\n    oops no_such_type,", 1))
    res = load_schema(pg, db, str(bad))
    assert res.returncode != 0
    assert re.search(r"schema\.sql:\d+: ERROR:\s+type \"no_such_type\" does not exist", res.stderr), res.stderr
    assert counts(pg, db) == {}  # not even the tables created before the error


def test_schema_rerun_replaces_existing_tables(pg):
    db = pg.create_db()
    assert load_schema(pg, db).returncode == 0
    assert load_sample(pg, db).returncode == 0
    again = load_schema(pg, db)
    assert again.returncode == 0, again.stderr
    assert set(counts(pg, db).values()) == {0}
    assert load_sample(pg, db).returncode == 0


def test_missing_table_fails_its_checks_without_breaking_the_rest(pg):
    db = pg.create_db()
    assert load_schema(pg, db).returncode == 0
    assert load_sample(pg, db).returncode == 0
    with pg.connect(db, autocommit=True) as conn:
        conn.execute("DROP TABLE seasonal_patterns")
        report = validation.validate_connection(conn)
    failed = {r.check: r for r in report.checks if not r.ok}
    assert set(failed) == {"table seasonal_patterns", "seasonal months"}
    assert failed["table seasonal_patterns"].found == "missing"
    assert failed["seasonal months"].found.startswith("error: relation \"seasonal_patterns\" does not exist")


def test_orphans_and_out_of_bounds_coordinates_are_found(pg):
    db = pg.create_db()
    assert load_schema(pg, db).returncode == 0
    assert load_sample(pg, db).returncode == 0
    with pg.connect(db, autocommit=True) as conn:
        conn.execute("ALTER TABLE reviews DROP CONSTRAINT reviews_rating_1_5")
        conn.execute("ALTER TABLE reviews DROP CONSTRAINT reviews_place_id_fkey")
        conn.execute("UPDATE reviews SET rating = 6 WHERE id = 10")
        conn.execute("UPDATE reviews SET place_id = 99999 WHERE id = 11")
        conn.execute("UPDATE places SET latitude = 35.0 WHERE id = (SELECT p.id FROM places p JOIN locations l ON l.id = p.location_id WHERE l.region = 'SEOUL' ORDER BY p.id LIMIT 1)")
        report = validation.validate_connection(conn)
    failed = {r.check: r.found for r in report.checks if not r.ok}
    assert failed == {
        "ratings within 1-5": "1 outside",
        "no orphans reviews.place_id -> places": "1",
        "coordinates inside SEOUL bounds": "1 outside",
    }


def test_a_used_database_passes_and_exact_sample_counts_need_expect_sample(pg):
    """Issue 17: validate demanded users = 10, so it failed on any database people use."""
    db = pg.create_db()
    assert load_schema(pg, db).returncode == 0
    assert load_sample(pg, db).returncode == 0
    with pg.connect(db, autocommit=True) as conn:
        conn.execute("INSERT INTO users (username, email, password_hash, role, display_name) "
                     "SELECT 'newbie', 'newbie@example.com', password_hash, 'USER', 'Newbie' FROM users WHERE username = 'admin'")
        # admin plans one more trip (a copy of one of theirs, one day long)
        conn.execute("INSERT INTO itineraries (user_id, template_id, location_id, title, start_date, end_date, duration_days, status) "
                     "SELECT user_id, template_id, location_id, 'one more', start_date, start_date, 1, 'PLANNED' "
                     "FROM itineraries WHERE user_id = (SELECT id FROM users WHERE username = 'admin') ORDER BY id LIMIT 1")
        used = validation.validate_connection(conn)
        exact = validation.validate_connection(conn, expect_sample=True)
    assert used.ok, used.message
    by_check = {r.check: r for r in used.checks}
    assert (by_check["count users"].expected, by_check["count users"].found, by_check["count users"].kind) == ("at least 10", "11", "sample")
    assert (by_check["user admin"].expected, by_check["user admin"].found) == ("role=ADMIN trips>=5", "role=ADMIN trips=6")
    assert by_check["no orphans reviews.user_id -> users"].kind == "integrity"
    assert not exact.ok and exact.sample == "exact"
    assert {(r.check, r.expected, r.found) for r in exact.checks if not r.ok} == {
        ("count users", "10", "11"), ("count itineraries", "20", "21"), ("user admin", "role=ADMIN trips=5", "role=ADMIN trips=6")}


def test_an_orphan_fails_validation_even_in_a_used_database(pg):
    db = pg.create_db()
    assert load_schema(pg, db).returncode == 0
    assert load_sample(pg, db).returncode == 0
    with pg.connect(db, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")  # foreign keys are triggers: off for this session
        conn.execute("INSERT INTO reviews (user_id, place_id, rating) SELECT 999999, min(id), 4 FROM places")
        conn.execute("SET session_replication_role = DEFAULT")
        report = validation.validate_connection(conn)
    assert [(r.check, r.kind, r.expected, r.found) for r in report.checks if not r.ok] == [
        ("no orphans reviews.user_id -> users", "integrity", "0", "1")]
    assert not report.ok


def test_a_named_user_with_another_role_fails_by_default(pg):
    db = pg.create_db()
    assert load_schema(pg, db).returncode == 0
    assert load_sample(pg, db).returncode == 0
    with pg.connect(db, autocommit=True) as conn:
        conn.execute("UPDATE users SET role = 'USER' WHERE username = 'poweruser'")
        report = validation.validate_connection(conn)
    assert [(r.check, r.expected, r.found) for r in report.checks if not r.ok] == [
        ("user poweruser", "role=POWER_USER trips>=7", "role=USER trips=7")]


def test_password_hashes_are_bcrypt_of_the_sample_passwords_and_no_plain_password_is_written(loaded, pg):
    import bcrypt
    import importlib.util

    spec = importlib.util.spec_from_file_location("sqlgen", SQL / "generate.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    with pg.connect(loaded) as conn:
        hashes = dict(conn.execute("SELECT username, password_hash FROM users").fetchall())
    assert len(hashes) == 10
    for user, h in hashes.items():
        assert bcrypt.checkpw(gen.sample_password(user).encode(), h.encode())
    blob = "".join((SQL / f).read_text() for f in SAMPLE_FILES)
    assert not any(gen.sample_password(u) in blob for u in hashes)

"""The committed sample data is exactly what sql/generate.py produces: regenerating changes nothing."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

SQL = Path(__file__).resolve().parents[2] / "sql"


def load_generator():
    spec = importlib.util.spec_from_file_location("sqlgen", SQL / "generate.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_regenerating_changes_nothing():
    gen = load_generator()
    files = gen.generate()
    assert set(files) == {"users.sql", "locations.sql", "ai-test-data.sql", "validate.sql"}
    for name, content in files.items():
        assert (SQL / name).read_text() == content, f"sql/{name} is out of date: run python sql/generate.py"
    assert gen.generate() == files  # and a second run in the same process is identical too


def test_check_mode_detects_a_hand_edit(tmp_path):
    gen = load_generator()
    for name, content in gen.generate().items():
        (tmp_path / name).write_text(content)
    ok = subprocess.run([sys.executable, str(SQL / "generate.py"), "--check", "--out", str(tmp_path)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    path = tmp_path / "users.sql"
    path.write_text(path.read_text().replace("'admin'", "'root'"))
    bad = subprocess.run([sys.executable, str(SQL / "generate.py"), "--check", "--out", str(tmp_path)], capture_output=True, text=True)
    assert bad.returncode == 1 and "users.sql" in bad.stderr


def test_spec_counts_and_named_users():
    gen = load_generator()
    trips = {u: t for u, _r, _d, t in gen.USERS}
    roles = {u: r for u, r, _d, _t in gen.USERS}
    assert len(gen.USERS) == 10 and sum(trips.values()) == 20
    assert (roles["admin"], trips["admin"]) == ("ADMIN", 5)
    assert (roles["testuser1"], trips["testuser1"]) == ("USER", 3)
    assert (roles["testuser2"], trips["testuser2"]) == ("USER", 2)
    assert (roles["poweruser"], trips["poweruser"]) == ("POWER_USER", 7)
    assert len(gen.SEOUL_DISTRICTS) == 25 and len(gen.BUSAN_DISTRICTS) == 16 and len(gen.JEJU_CITIES) == 2 and len(gen.ABROAD_CITIES) == 10
    assert sum(gen.PLACES_PER_REGION.values()) == 500

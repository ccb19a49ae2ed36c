"""Roles saved beside every dump (`pg_dumpall --globals-only` in `<file>.globals`, 0600, its
sha256 in the metadata) and restorable with `db restore --globals`: a dropped role comes back
with its password verifier, existing roles are left exactly as they are; the same through the
team store (Azurite)."""

from __future__ import annotations

import hashlib
import json
import stat

from tests.e2e.test_backup_store import CONN, azurite, new_store  # noqa: F401 - azurite is a fixture
from tests.helpers import cli, postgres_only, psql


def verifier(sandbox, ns: str, role: str) -> str:
    return psql(sandbox, ns, f"SELECT coalesce(rolpassword, '-') FROM pg_authid WHERE rolname = '{role}'", "postgres")


def test_roles_are_saved_beside_the_dump_and_restored(sandbox, azurite, namespace, tmp_path):
    postgres_only(sandbox, namespace)
    psql(sandbox, namespace, "CREATE ROLE reporter LOGIN PASSWORD 'r3port-s3cret'; CREATE TABLE t (id int); INSERT INTO t VALUES (1); GRANT SELECT ON t TO reporter")
    reporter, superuser = verifier(sandbox, namespace, "reporter"), verifier(sandbox, namespace, "postgres")
    assert reporter.startswith("SCRAM-SHA-256$")

    r = cli(sandbox, "db", "backup", "--backup-dir", str(tmp_path), "-o", "json", namespace=namespace)
    assert r.returncode == 0, r.stdout + r.stderr
    info = json.loads(r.stdout)
    roles = tmp_path / f"{info['file']}.globals"
    assert info["globals_file"] == roles.name and stat.S_IMODE(roles.stat().st_mode) == 0o600
    data = roles.read_bytes()
    assert info["globals_sha256"] == hashlib.sha256(data).hexdigest() and b"CREATE ROLE reporter;" in data
    assert "SCRAM" not in r.stdout  # the verifiers stay in the file, never on the terminal

    # a later password for postgres must survive a restore of the older roles
    psql(sandbox, namespace, "REVOKE ALL ON t FROM reporter; DROP ROLE reporter; ALTER ROLE postgres PASSWORD 'rotated-since'")
    rotated = verifier(sandbox, namespace, "postgres")
    assert rotated != superuser and verifier(sandbox, namespace, "reporter") == ""
    back = cli(sandbox, "db", "restore", str(tmp_path / info["file"]), "--globals", "--yes", "--no-safety-backup", "-o", "json", namespace=namespace)
    assert back.returncode == 0, back.stdout + back.stderr
    result = json.loads(back.stdout)
    assert "roles created: reporter" in result["globals"] and "postgres" in result["globals"].split("left as they are:")[1]
    assert verifier(sandbox, namespace, "reporter") == reporter  # the same password verifier
    assert verifier(sandbox, namespace, "postgres") == rotated  # existing role untouched
    assert psql(sandbox, namespace, "SELECT has_table_privilege('reporter', 't', 'SELECT')") == "t"

    # through the store: the roles travel beside the dump and are checked on the way back
    name, url = new_store()
    up = cli(sandbox, "db", "backup", "--to", "azure", "--store", url, "--backup-dir", str(tmp_path / "s"), "-o", "json",
             namespace=namespace, env={CONN: azurite})
    assert up.returncode == 0, up.stdout + up.stderr
    stored = json.loads(up.stdout)
    from azure.storage.blob import BlobServiceClient

    c = BlobServiceClient.from_connection_string(azurite).get_container_client(name)
    assert c.download_blob(stored["file"] + ".globals").readall() == (tmp_path / "s" / f"{stored['file']}.globals").read_bytes()
    psql(sandbox, namespace, "REVOKE ALL ON t FROM reporter; DROP ROLE reporter")
    back = cli(sandbox, "db", "restore", stored["url"], "--globals", "--yes", "--no-safety-backup", "-o", "json", namespace=namespace, env={CONN: azurite})
    assert back.returncode == 0, back.stdout + back.stderr
    assert verifier(sandbox, namespace, "reporter") == reporter

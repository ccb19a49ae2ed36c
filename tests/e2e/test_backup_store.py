"""The team backup store against Azurite (Microsoft's storage emulator, started by the sandbox
beside its Azure fakes; a real server, the SDK unmocked): `db backup --to azure` then `db restore
azure://...` brings deleted rows back identically, a blob with one changed byte is refused
before the database is touched, `db list --store` shows what was verified, and `db prune
--store` keeps the minimum number whatever their age."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from tests.e2e.test_backup import SCHEMA, counts, one_error_line, snapshot
from tests.helpers import cli, psql, stateful_namespace

CONN = "TRIPGENCTL_BACKUP_STORE_CONNECTION_STRING"


@pytest.fixture(scope="module")
def azurite(sandbox):
    """The sandbox's Azure fakes with Azurite; the connection string comes from azure.env."""
    from tripgen_sandbox import control

    control.azure_start(sandbox.state_dir)
    env_file = (sandbox.state_dir / "azure.env").read_text()
    assert f"export {CONN}=" in env_file
    conn = control.azure_env(sandbox.state_dir)[CONN]
    assert "127.0.0.1" in conn
    yield conn
    control.azure_stop(sandbox.state_dir)


@pytest.fixture(scope="module")
def env(sandbox):
    with stateful_namespace(sandbox, "store", "postgresql", sql=SCHEMA) as name:
        yield name


def container(conn: str, name: str):
    from azure.storage.blob import BlobServiceClient

    return BlobServiceClient.from_connection_string(conn).get_container_client(name)


def db(sandbox, conn: str, ns: str | None, *args: str, timeout: float = 300):
    extra = ("-n", ns) if ns else ()
    return cli(sandbox, "db", *args, *extra, env={CONN: conn}, timeout=timeout)


def new_store() -> tuple[str, str]:
    name = f"t{uuid.uuid4().hex[:10]}"
    return name, f"azure://devstoreaccount1/{name}"


def test_backup_to_azure_then_restore_brings_back_deleted_rows(sandbox, azurite, env, tmp_path):
    name, url = new_store()
    before = snapshot(sandbox, env)
    r = db(sandbox, azurite, env, "backup", "--to", "azure", "--store", url, "--backup-dir", str(tmp_path / "local"), "-o", "json")
    assert r.returncode == 0, r.stdout + r.stderr
    stored = json.loads(r.stdout)
    assert stored["verified"] is True and stored["url"] == f"{url}/{stored['file']}"
    assert stored["table_counts"] == counts(before)

    # what the store holds: the dump (more than one 4 MiB block), its sha256 and origin as
    # metadata, the service's MD5, and the full metadata beside it
    c = container(azurite, name)
    props = c.get_blob_client(stored["file"]).get_blob_properties()
    assert props.size == stored["size"] > 4 << 20
    assert props.metadata["sha256"] == stored["sha256"] and props.metadata["verified"] == "true"
    assert props.metadata["database"] == "tripgen" and props.metadata["namespace"] == env
    assert bytes(props.content_settings.content_md5).hex() == stored["content_md5"]
    side = json.loads(c.download_blob(stored["file"] + ".json").readall())
    assert side["sha256"] == stored["sha256"] and side["table_counts"] == counts(before)

    listed = db(sandbox, azurite, None, "list", "--store", url, "-o", "json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [(x["file"], x["state"]) for x in rows] == [(stored["file"], "verified")]

    psql(sandbox, env, "DELETE FROM notes; DELETE FROM bulk WHERE id % 2 = 0; DELETE FROM trips WHERE id > 1500 AND id NOT IN (SELECT trip_id FROM notes)")
    assert snapshot(sandbox, env) != before

    back = db(sandbox, azurite, env, "restore", stored["url"], "--backup-dir", str(tmp_path / "local"), "--yes", "-o", "json")
    assert back.returncode == 0, back.stdout + back.stderr
    result = json.loads(back.stdout)
    assert result["counts_match"] is True and result["safety_backup"]
    assert snapshot(sandbox, env) == before  # identical counts AND contents, table by table


def test_a_blob_with_one_changed_byte_is_refused_before_the_database_is_touched(sandbox, azurite, env, tmp_path):
    name, url = new_store()
    local = tmp_path / "local"
    r = db(sandbox, azurite, env, "backup", "--to", "azure", "--store", url, "--backup-dir", str(local), "-o", "json")
    assert r.returncode == 0, r.stdout + r.stderr
    stored = json.loads(r.stdout)

    # one byte in the middle changed in the store; the metadata (sha256, MD5) left as it was
    blob = container(azurite, name).get_blob_client(stored["file"])
    props = blob.get_blob_properties()
    data = bytearray(blob.download_blob().readall())
    data[len(data) // 2] ^= 0x01
    from azure.storage.blob import ContentSettings

    blob.upload_blob(bytes(data), overwrite=True, metadata=props.metadata)
    blob.set_http_headers(ContentSettings(content_type="application/octet-stream", content_md5=props.content_settings.content_md5))
    assert blob.get_blob_properties().content_settings.content_md5 == props.content_settings.content_md5

    psql(sandbox, env, "UPDATE trips SET name = 'changed since' WHERE id <= 5")
    damaged = snapshot(sandbox, env)
    local_files = sorted(p.name for p in local.iterdir())
    refused = db(sandbox, azurite, env, "restore", stored["url"], "--backup-dir", str(local), "--yes")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    line = one_error_line(refused)
    assert stored["file"] in line and "damaged" in line and "nothing was restored" in line
    assert snapshot(sandbox, env) == damaged  # not touched
    assert sorted(p.name for p in local.iterdir()) == local_files  # not even a safety backup was taken

    # the intact local copy puts it back for the next test
    ok = db(sandbox, azurite, env, "restore", str(local / stored["file"]), "--backup-dir", str(local), "--yes")
    assert ok.returncode == 0, ok.stderr


def fabricate(c, file: str, age_days: float, verified: bool = True) -> None:
    finished = (datetime.now(timezone.utc) - timedelta(days=age_days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    md = {"sha256": "0" * 64, "size": "5", "format": "custom", "database": "tripgen", "namespace": "x", "kind": "backup",
          "finished_at": finished, "tool_version": "0", "verified": "true" if verified else "false"}
    c.upload_blob(file, b"PGDMP", metadata=md)
    if verified:
        c.upload_blob(file + ".json", json.dumps({"file": file, "finished_at": finished}).encode())


def test_prune_on_the_store_keeps_the_minimum_number(sandbox, azurite):
    name, url = new_store()
    c = container(azurite, name)
    c.create_container()
    for i, age in enumerate((20, 21, 22, 23, 24)):
        fabricate(c, f"old-{i}.dump", age)
    fabricate(c, "young.dump", 1)
    fabricate(c, "unverified.dump", 30, verified=False)

    plan = db(sandbox, azurite, None, "prune", "--store", url, "--keep-days", "7", "--keep-last", "3", "--dry-run", "-o", "json")
    assert plan.returncode == 0, plan.stderr
    actions = {a["file"]: a["action"] for a in json.loads(plan.stdout)["actions"]}
    assert actions == {"young.dump": "keep", "old-0.dump": "keep", "old-1.dump": "keep",
                       "old-2.dump": "delete", "old-3.dump": "delete", "old-4.dump": "delete", "unverified.dump": "delete"}
    assert len(list(c.list_blobs())) == 13  # a dry run deletes nothing

    r = db(sandbox, azurite, None, "prune", "--store", url, "--keep-days", "7", "--keep-last", "3", "--yes", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert sorted(b.name for b in c.list_blobs()) == sorted(f"{f}{s}" for f in ("young.dump", "old-0.dump", "old-1.dump") for s in ("", ".json"))

    # --keep-days 0 still leaves the minimum (at least one, however it is asked)
    r = db(sandbox, azurite, None, "prune", "--store", url, "--keep-days", "0", "--keep-last", "0", "--yes", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert sorted(b.name for b in c.list_blobs()) == ["young.dump", "young.dump.json"]


def test_bad_store_urls_and_an_unreachable_store_are_one_line(sandbox, azurite, env, tmp_path):
    bad = db(sandbox, azurite, None, "list", "--store", "azure://Bad_Account/x")
    assert bad.returncode == 2 and "account name" in one_error_line(bad)
    (tmp_path / "none.toml").write_text("")
    none = cli(sandbox, "db", "list", "--store", env={CONN: azurite, "TRIPGENCTL_CONFIG": str(tmp_path / "none.toml")})
    assert none.returncode == 2 and "no backup store" in one_error_line(none)
    import re
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = re.sub(r"127\.0\.0\.1:\d+", f"127.0.0.1:{port}", azurite)
    r = db(sandbox, dead, None, "list", "--store", "azure://devstoreaccount1/backups")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "cannot reach the backup store" in one_error_line(r)
    assert "AccountKey" not in r.stderr and "Eby8" not in r.stderr

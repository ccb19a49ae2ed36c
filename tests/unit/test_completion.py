"""Shell completion as a shell asks for it (bash protocol through the real entry point): workload
names, contexts from the kubeconfig, profiles, backup files. No cluster is touched."""

from __future__ import annotations

import os
import subprocess
import sys

import yaml


def complete(words: str, cwd, **env: str) -> list[str]:
    parts = words.split(" ")
    full = dict(os.environ, _TRIPGENCTL_COMPLETE="complete_bash", COMP_WORDS=words, COMP_CWORD=str(len(parts) - 1), **env)
    full.pop("TRIPGENCTL_CONFIG", None)
    proc = subprocess.run([sys.executable, "-c", "from tripgenctl.cli.app import main; main()"], env=full, cwd=cwd,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return [line for line in proc.stdout.splitlines() if line]


def test_workload_names_complete_for_exclude(tmp_path):
    assert complete("tripgenctl down --exclude ", tmp_path) == ["user-service", "trip-service", "ai-service",
                                                               "location-service", "postgresql", "redis"]
    assert complete("tripgenctl up --exclude tr", tmp_path) == ["trip-service"]


def test_workload_names_follow_the_config(tmp_path):
    (tmp_path / "tripgenctl.toml").write_text('[workloads]\napps = ["api", "web"]\n')
    assert complete("tripgenctl down --exclude ", tmp_path)[:2] == ["api", "web"]


def test_contexts_come_from_the_kubeconfig(tmp_path):
    kc = tmp_path / "kc"
    kc.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "contexts": [
        {"name": "aks-tripgen-dev", "context": {"cluster": "c", "user": "u"}},
        {"name": "tripgen-sandbox", "context": {"cluster": "c", "user": "u"}}]}))
    assert complete("tripgenctl status --context aks", tmp_path, KUBECONFIG=str(kc)) == ["aks-tripgen-dev"]


def test_profiles_and_backup_files(tmp_path):
    assert set(complete("tripgenctl deploy --profile ", tmp_path)) == {"000", "001"}
    backups = tmp_path / "b"
    backups.mkdir()
    for name in ("dev-backup-1.dump", "dev-backup-2.sql", "notes.txt", "dev-backup-1.dump.json"):
        (backups / name).write_text("x")
    got = complete(f"tripgenctl db restore --backup-dir {backups} ", tmp_path)
    assert got == [str(backups / "dev-backup-1.dump"), str(backups / "dev-backup-2.sql")]
    assert complete(f"tripgenctl db verify {backups}/dev-backup-2", tmp_path) == [str(backups / "dev-backup-2.sql")]


def test_workload_names_follow_the_config_named_on_the_line(tmp_path):
    other = tmp_path / "elsewhere.toml"
    other.write_text('[workloads]\napps = ["billing"]\n')
    assert complete(f"tripgenctl --config {other} down --exclude b", tmp_path) == ["billing"]

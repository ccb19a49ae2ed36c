"""Configuration is built once, by the CLI's root callback, and handed to ops: no module under
tripgenctl/ops loads the config file or reads the process environment (read from the source
with `ast`, imports inside functions included), and --config / --env reach nobody through
os.environ. Environment variables that stand in for config keys are applied in one place,
config.apply_environ."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OPS = ROOT / "tripgenctl" / "ops"


def _offences(path: Path) -> list[str]:
    """`load` taken from tripgenctl.config (or `config.load(...)`), and any use of os.environ,
    os.getenv, os.putenv or `from os import environ/getenv`."""
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = {a.name for a in node.names}
            if node.module == "tripgenctl.config" and "load" in names:
                found.append(f"{node.lineno}: imports tripgenctl.config.load")
            if node.module == "os" and names & {"environ", "getenv", "putenv", "environb"}:
                found.append(f"{node.lineno}: imports os.{', os.'.join(sorted(names & {'environ', 'getenv', 'putenv', 'environb'}))}")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id == "os" and node.attr in ("environ", "getenv", "putenv", "environb"):
                found.append(f"{node.lineno}: reads os.{node.attr}")
            if node.value.id == "config" and node.attr == "load":
                found.append(f"{node.lineno}: calls config.load")
    return found


def test_no_ops_module_loads_the_config_or_reads_the_environment():
    bad = [f"{p.relative_to(ROOT).as_posix()}:{o}" for p in sorted(OPS.rglob("*.py")) for o in _offences(p)]
    assert bad == []


def test_the_checker_sees_each_kind_of_offence(tmp_path):
    """The rule above must be able to fail: each form it looks for is found."""
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nfrom os import environ\nfrom tripgenctl.config import load\nfrom tripgenctl import config\n"
                      "def f():\n    os.environ.get('X')\n    os.getenv('Y')\n    config.load()\n")
    assert len(_offences(sample)) == 5


def test_environment_variables_become_config_values_in_one_place():
    from tripgenctl.config import ToolConfig, apply_environ

    cfg = apply_environ(ToolConfig(), {"TRIPGENCTL_BACKUP_STORE": "azure://acct/box", "AZURE_SUBSCRIPTION_ID": "sub-1",
                                       "TRIPGENCTL_AZURE_POLL_INTERVAL": "0.2", "TRIPGENCTL_LOCK_SECONDS": "7"})
    assert (cfg.backup.store, cfg.azure.subscription, cfg.azure.poll_interval, cfg.lock_seconds) == ("azure://acct/box", "sub-1", 0.2, 7)
    same = apply_environ(ToolConfig(), {"TRIPGENCTL_LOCK_SECONDS": "soon", "TRIPGENCTL_BACKUP_STORE": ""})
    assert same.lock_seconds == ToolConfig().lock_seconds and same.backup.store is None  # as lock.py always read them
    assert apply_environ(ToolConfig(), {"TRIPGENCTL_LOCK_SECONDS": "0"}).lock_seconds == 1


def test_a_bad_poll_interval_is_one_usage_line():
    from tripgenctl.config import ToolConfig, apply_environ
    from tripgenctl.errors import UsageError

    with pytest.raises(UsageError, match="TRIPGENCTL_AZURE_POLL_INTERVAL"):
        apply_environ(ToolConfig(), {"TRIPGENCTL_AZURE_POLL_INTERVAL": "fast"})


def test_the_variables_win_over_the_file_and_the_selected_environment(tmp_path):
    from tripgenctl.config import load

    path = tmp_path / "c.toml"
    path.write_text('[backup]\nstore = "azure://file/box"\n[environments.qa]\nnamespace = "qa"\nstore = "azure://qa/box"\n')
    assert load(str(path), "qa", {}).backup.store == "azure://qa/box"
    assert load(str(path), "qa", {"TRIPGENCTL_BACKUP_STORE": "azure://env/box"}).backup.store == "azure://env/box"
    assert load(None, None, {"TRIPGENCTL_CONFIG": str(path), "TRIPGENCTL_ENV": "qa"}).namespace == "qa"


def test_config_and_env_are_not_handed_on_through_os_environ(tmp_path, monkeypatch):
    """`--config` and `--env` are used by this run's root callback and are not exported."""
    from tests.helpers import invoke

    monkeypatch.delenv("TRIPGENCTL_CONFIG", raising=False)
    monkeypatch.delenv("TRIPGENCTL_ENV", raising=False)
    path = tmp_path / "c.toml"
    path.write_text('[environments.qa]\nnamespace = "qa"\n[schedule]\ndown_time = "21:30"\n')
    seen = {}
    from tripgenctl.cli import app as app_module

    real = app_module._load_config

    def spy(*args, **kwargs):
        result = real(*args, **kwargs)
        seen.update(config=os.environ.get("TRIPGENCTL_CONFIG"), env=os.environ.get("TRIPGENCTL_ENV"), cfg=result[0])
        return result

    monkeypatch.setattr(app_module, "_load_config", spy)
    result = invoke("--config", str(path), "--env", "qa", "schedule", "crontab")
    assert result.exit_code == 0, result.output
    assert "30 21" in result.output  # the file's schedule, passed in, not re-read
    assert seen["config"] is None and seen["env"] is None
    assert seen["cfg"].namespace == "qa" and seen["cfg"].source == str(path)

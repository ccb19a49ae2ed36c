"""Named environments in one sandbox: `--env NAME` selects namespace, context and guard for every
command, `env list` shows each one's own state, and an environment name the config does not
hold is one line, exit 2."""

from __future__ import annotations

import json
import uuid

from tests.e2e.test_updown import apply, app_yaml, replicas
from tests.helpers import cli


def two_envs(sandbox, tmp_path):
    names = {env: f"env-{env}-{uuid.uuid4().hex[:5]}" for env in ("dev", "alice")}
    core = sandbox.kube().core
    for ns in names.values():
        core.create_namespace({"metadata": {"name": ns}})
        apply(sandbox, ns, app_yaml("alpha"))
    config = tmp_path / "tripgenctl.toml"
    config.write_text(
        'default_environment = "dev"\n'
        f'[environments.dev]\nnamespace = "{names["dev"]}"\ncontext = "tripgen-sandbox"\n'
        f'[environments.alice]\nnamespace = "{names["alice"]}"\ncontext = "tripgen-sandbox"\nowner = "alice"\n'
        'expires = "2020-01-01T00:00:00Z"\n')
    return names, str(config)


def test_env_selects_the_namespace_for_every_command(sandbox, tmp_path):
    names, config = two_envs(sandbox, tmp_path)
    env = {"TRIPGENCTL_CONFIG": config}
    for ns in names.values():
        assert cli(sandbox, "up", "--yes", "-n", ns, "--timeout", "120", env=env).returncode == 0

    down = cli(sandbox, "--env", "alice", "down", "--yes", env=env)
    assert down.returncode == 0, down.stdout + down.stderr
    assert replicas(sandbox, names["alice"]) == {"alpha": 0}
    assert replicas(sandbox, names["dev"]) == {"alpha": 1}  # the default environment is untouched

    st = cli(sandbox, "status", "-o", "json", "--env", "alice", env=env)
    assert st.returncode == 0 and json.loads(st.stdout)["overall"] == "DOWN"
    default = cli(sandbox, "status", "-o", "json", env=env)  # default_environment = dev
    assert default.returncode == 0 and json.loads(default.stdout)["overall"] == "UP"

    listed = cli(sandbox, "env", "list", "-o", "json", env=env)
    assert listed.returncode == 0, listed.stderr
    rows = {r["name"]: r for r in json.loads(listed.stdout)["environments"]}
    assert rows["dev"]["state"] == "UP" and rows["dev"]["default"] is True
    assert rows["alice"]["state"] == "DOWN" and rows["alice"]["owner"] == "alice" and rows["alice"]["expired"] is True

    unknown = cli(sandbox, "--env", "bob", "status", env=env)
    assert unknown.returncode == 2 and "no environment 'bob'" in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1

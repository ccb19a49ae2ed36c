"""The destructive commands' one safety contract (ops/safety.py), through the real CLI against the
sandbox: no terminal and no --yes is a refusal that changes nothing; --yes takes a verified
safety backup before the rows go and leaves an Event; a context that is not the environment's
is refused by down, cache flush, deploy and db restore even with --yes; Ctrl-C and Ctrl-D at a
question on a real terminal (a pty); SIGTERM is handled like Ctrl-C; the sandbox's state files
are private."""

from __future__ import annotations

import json
import signal
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

from tests.helpers import cli, on_pty, postgres_only, psql, secrets_init
from tripgenctl.ops import safety


@pytest.fixture(scope="module")
def db_ns(sandbox):
    name = f"safety-{uuid.uuid4().hex[:6]}"
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


def stderr_lines(r: subprocess.CompletedProcess) -> list[str]:
    assert "Traceback" not in r.stderr, r.stderr
    return [line for line in r.stderr.splitlines() if line.strip()]


def own_events(sandbox, namespace: str) -> list[dict]:
    return safety.events(sandbox.kube(namespace), namespace)


def test_data_init_force_refused_without_a_terminal_then_backs_up_first(sandbox, db_ns, tmp_path):
    ns = db_ns
    psql(sandbox, ns, "INSERT INTO users (username, email, password_hash, role, display_name) SELECT 'added-by-hand', "
                      "'hand@example.com', password_hash, 'USER', 'By Hand' FROM users LIMIT 1")
    cm_before = sandbox.kube(ns).get_object("v1", "ConfigMap", "sample-data-scripts")["metadata"]["resourceVersion"]
    events_before = len(own_events(sandbox, ns))

    refused = cli(sandbox, "data", "init", "-n", ns, "--force", "--backup-dir", str(tmp_path), "--timeout", "60")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    *progress, line = stderr_lines(refused)
    assert all(p.startswith("  waiting for pod") for p in progress), refused.stderr
    assert line.startswith("error: data init --force in context tripgen-sandbox, namespace " + ns) and "--yes" in line, line
    assert "table users: 11 rows deleted" in line, line  # the plan: what goes, counted
    assert psql(sandbox, ns, "SELECT count(*) FROM users WHERE username = 'added-by-hand'") == "1"
    assert sandbox.kube(ns).get_object("v1", "ConfigMap", "sample-data-scripts")["metadata"]["resourceVersion"] == cm_before
    assert list(tmp_path.iterdir()) == [] and len(own_events(sandbox, ns)) == events_before

    dry = cli(sandbox, "data", "init", "-n", ns, "--force", "--dry-run", "-o", "json", "--timeout", "60")
    assert dry.returncode == 0, dry.stderr
    plan = json.loads(dry.stdout)
    assert plan["dry_run"] and plan["action"] == "data init --force" and plan["database"] == "tripgen" and plan["overwrites_rows"]
    assert {"object": "table users", "change": "11 rows deleted, the sample data reloaded"} in plan["changes"]
    assert psql(sandbox, ns, "SELECT count(*) FROM users WHERE username = 'added-by-hand'") == "1"

    done = cli(sandbox, "data", "init", "-n", ns, "--force", "--yes", "--backup-dir", str(tmp_path), "--log-format", "json",
               "--timeout", "180", "-o", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert psql(sandbox, ns, "SELECT count(*) FROM users WHERE username = 'added-by-hand'") == "0"  # the data went ...
    dumps = sorted(tmp_path.glob("pre-init-*.dump"))
    assert len(dumps) == 1, list(tmp_path.iterdir())
    verified = cli(sandbox, "db", "verify", str(dumps[0]), "-o", "json")
    assert verified.returncode == 0 and json.loads(verified.stdout)["ok"], verified.stdout + verified.stderr
    meta = json.loads(dumps[0].with_name(dumps[0].name + ".json").read_text())
    assert meta["kind"] == "safety" and meta["table_counts"]["public.users"] == 11  # ... after a backup that holds it

    trail = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    record = next(r for r in trail if r.get("action") == "data init --force")
    assert record["result"] == "ok" and record["by"] and record["namespace"] == ns and record["safety_backup"] == str(dumps[0])
    assert record["event"] is True
    event = own_events(sandbox, ns)[-1]
    ann = event["metadata"]["annotations"]
    assert event["reason"] == "DataInit" and event["type"] == "Normal" and event["involvedObject"]["kind"] == "Namespace"
    assert ann["tripgenctl.io/action"] == "data init --force" and ann["tripgenctl.io/result"] == "ok"
    assert ann["tripgenctl.io/by"] == record["by"] and ann["tripgenctl.io/safety-backup"] == str(dumps[0])
    assert event["firstTimestamp"]


def test_data_reset_backs_up_unless_told_not_to(sandbox, db_ns, tmp_path):
    ns = db_ns
    dry = cli(sandbox, "data", "reset", "-n", ns, "--dry-run", "--timeout", "60")
    assert dry.returncode == 0 and "table public.reviews" in dry.stdout and "dropped (500 rows)" in dry.stdout, dry.stdout + dry.stderr
    skipped = cli(sandbox, "data", "reset", "-n", ns, "--yes", "--no-safety-backup", "--backup-dir", str(tmp_path), "--timeout", "180")
    assert skipped.returncode == 0, skipped.stdout + skipped.stderr
    assert "no safety backup (--no-safety-backup)" in skipped.stderr and list(tmp_path.iterdir()) == []


def other_context_kubeconfig(sandbox, tmp_path: Path, name: str = "aks-tripgen-dev-prod") -> str:
    """The sandbox's kubeconfig plus a context whose name the old default pattern
    (`aks-tripgen-dev*`) accepted; it reaches the same sandbox, so a guard that lets it through
    would really act."""
    config = yaml.safe_load(Path(sandbox.kubeconfig).read_text())
    ctx = dict(config["contexts"][0])
    ctx["name"] = name
    config["contexts"].append(ctx)
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return str(path)


APP = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: keep-me}
spec:
  replicas: 1
  selector: {matchLabels: {app: keep-me}}
  template:
    metadata: {labels: {app: keep-me, tier: application}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - {name: main, image: busybox, command: [sh, -c, "sleep 3600"]}
"""


def test_other_context_with_yes_is_refused_without_the_mismatch_flag(sandbox, namespace, tmp_path):
    sandbox.kubectl("apply", "-n", namespace, "-f", "-", input=APP, check=True)
    env = {"KUBECONFIG": other_context_kubeconfig(sandbox, tmp_path)}
    dump = tmp_path / "x.dump"
    dump.write_bytes(b"not looked at: the guard comes first")
    for args in (["down", "--yes"], ["up", "--yes"], ["cache", "flush", "--yes"], ["deploy", "--yes"],
                 ["db", "restore", str(dump), "--yes", "--backup-dir", str(tmp_path)],
                 ["data", "reset", "--yes", "--backup-dir", str(tmp_path)], ["schedule", "remove", "--yes"], ["wake", "--for", "1h"],
                 ["secrets", "init", "--force", "--yes"]):
        r = cli(sandbox, "--context", "aks-tripgen-dev-prod", *args, "-n", namespace, env=env)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        [line] = stderr_lines(r)
        assert 'refused: context "aks-tripgen-dev-prod" is not the configured environment' in line, (args, line)
        assert "--allow-other-context" in line, line
    assert sandbox.kube(namespace).get_object("apps/v1", "Deployment", "keep-me")["spec"]["replicas"] == 1
    assert sandbox.kubectl("get", "deployment", "user-service", "-n", namespace).returncode != 0  # deploy applied nothing
    ns_obj = sandbox.kube(namespace).get_object("v1", "Namespace", namespace)
    assert "tripgenctl.io/awake-until" not in (ns_obj["metadata"].get("annotations") or {})  # wake wrote nothing
    assert sandbox.kube(namespace).get_object("v1", "Secret", "postgresql-secret", namespace) is None
    assert own_events(sandbox, namespace) == []

    allowed = cli(sandbox, "--context", "aks-tripgen-dev-prod", "down", "--yes", "--allow-other-context", "-n", namespace, env=env)
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert sandbox.kube(namespace).get_object("apps/v1", "Deployment", "keep-me")["spec"]["replicas"] == 0
    [event] = own_events(sandbox, namespace)  # the trail of up/down
    assert event["metadata"]["annotations"]["tripgenctl.io/action"] == "down"
    assert event["metadata"]["annotations"]["tripgenctl.io/context"] == "aks-tripgen-dev-prod"
    assert event["metadata"]["annotations"]["tripgenctl.io/result"] == "ok"


# ---- a real terminal ------------------------------------------------------------------------------

def test_ctrl_c_and_ctrl_d_at_the_question_of_down_on_a_terminal(sandbox, namespace):
    sandbox.kubectl("apply", "-n", namespace, "-f", "-", input=APP, check=True)
    code, out = on_pty(sandbox, ["down", "-n", namespace], b"\x03")  # Ctrl-C
    assert code == 130, out
    assert "down 1 workload(s) in tripgen-sandbox/" + namespace in out  # the question was visible
    after = out.split("[y/N]: ", 1)[1]
    assert [line for line in after.replace("^C", "").splitlines() if line.strip()] == ["interrupted"], out
    assert "Abort" not in out and "Traceback" not in out

    code, out = on_pty(sandbox, ["down", "-n", namespace], b"\x04")  # Ctrl-D: end of input
    assert code == 2, out
    after = out.split("[y/N]: ", 1)[1]
    assert [line for line in after.replace("^D", "").splitlines() if line.strip()] == ["error: aborted: no answer (end of input)"], out

    code, out = on_pty(sandbox, ["down", "-n", namespace], b"n\r")
    assert code == 2 and "error: aborted: not confirmed" in out, out
    assert sandbox.kube(namespace).get_object("apps/v1", "Deployment", "keep-me")["spec"]["replicas"] == 1
    assert own_events(sandbox, namespace) == []  # nothing was done, nothing recorded

    code, out = on_pty(sandbox, ["down", "-n", namespace], b"y\r")
    assert code == 0, out
    assert sandbox.kube(namespace).get_object("apps/v1", "Deployment", "keep-me")["spec"]["replicas"] == 0


def test_sigterm_and_sighup_are_handled_like_ctrl_c(sandbox, namespace):
    """`data init` waiting for a PostgreSQL that is not there: killed by a CronJob deadline
    (SIGTERM) or a closed terminal (SIGHUP), it says so in one line and exits 128 + signal."""
    secrets_init(sandbox, namespace)
    for sig, code, line in ((signal.SIGTERM, 143, "terminated (SIGTERM)"), (signal.SIGHUP, 129, "hung up (SIGHUP)")):
        proc = subprocess.Popen([sys.executable, "-m", "tripgenctl", "data", "init", "-n", namespace, "--timeout", "120"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=sandbox.env(), stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            seen = ""
            while "waiting for pod" not in seen:  # it is inside the wait
                assert time.monotonic() < deadline and proc.poll() is None, seen
                seen += proc.stderr.readline()
            proc.send_signal(sig)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert proc.returncode == code, (sig, out, err)
        assert [x for x in err.splitlines() if x.strip()] == [line], err


# ---- the sandbox's own files ----------------------------------------------------------------------

def test_sandbox_state_files_are_private(sandbox):
    state = sandbox.state_dir
    deadline = time.monotonic() + 30
    while not (state / "objects.json").exists():  # written a moment after the first change
        assert time.monotonic() < deadline, "objects.json never written"
        time.sleep(0.1)

    def mode(p: Path) -> int:
        return stat.S_IMODE(p.stat().st_mode)

    for directory in (state, state / "pki"):
        assert mode(directory) == 0o700, (directory, oct(mode(directory)))
    private = [state / "objects.json", state / "kubeconfig", state / "sandbox.json", state / "pki" / "admin.token",
               *sorted((state / "pki").glob("*.key"))]
    assert len(private) >= 7
    for f in private:
        assert mode(f) == 0o600, (f, oct(mode(f)))


def test_cache_flush_plans_counts_and_leaves_a_trail(sandbox, namespace):
    from tests.helpers import deploy_stateful

    secrets_init(sandbox, namespace)
    deploy_stateful(sandbox, namespace, "redis")
    script = "for i = 1, 25 do redis.call('SET', 'key:' .. i, i) end return redis.call('DBSIZE')"
    assert sandbox.kubectl("exec", "redis-0", "-n", namespace, "--", "redis-cli", "EVAL", script, "0").stdout.decode().strip() == "25"

    dry = cli(sandbox, "cache", "flush", "-n", namespace, "--dry-run", "-o", "json")
    assert dry.returncode == 0, dry.stderr
    plan = json.loads(dry.stdout)
    assert plan["dry_run"] and plan["changes"] == [{"object": "Redis redis-0 (all databases)", "change": "FLUSHALL: 25 keys will be deleted"}]
    assert plan["context"] == "tripgen-sandbox" and plan["namespace"] == namespace
    assert sandbox.kubectl("exec", "redis-0", "-n", namespace, "--", "redis-cli", "DBSIZE").stdout.decode().strip() == "25"
    assert own_events(sandbox, namespace) == []

    done = cli(sandbox, "cache", "flush", "-n", namespace, "--yes", "--log-format", "json", "-o", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["keys_after"] == 0
    [line] = stderr_lines(done)
    record = json.loads(line)
    assert (record["action"], record["result"], record["namespace"]) == ("cache flush", "ok", namespace) and "@" in record["by"]
    [event] = own_events(sandbox, namespace)
    assert event["reason"] == "CacheFlush" and "FLUSHALL: 25 -> 0 keys" in event["message"]

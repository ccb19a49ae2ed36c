"""The rollout wait: a watch on Deployments and StatefulSets, plain progress lines without a
terminal, a clear report per workload. The first two tests play the controllers by writing
status by hand (what a kubelet-less API server needs); the last one is the acceptance run on
the full sandbox: real PostgreSQL, Redis and the four stand-in apps."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.helpers import cli
from tests.helpers import secrets_init as init_secrets


WORKLOADS = [("deployment", "user-service"), ("deployment", "trip-service"), ("deployment", "ai-service"),
             ("deployment", "location-service"), ("statefulset", "postgresql"), ("statefulset", "redis")]


def test_wait_follows_the_watch_until_every_workload_is_ready(sandbox, namespace):
    init_secrets(sandbox, namespace)
    proc = subprocess.Popen([sys.executable, "-m", "tripgenctl", "deploy", "-n", namespace, "--timeout", "120", "-o", "json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=sandbox.env())
    try:
        seen, early = set(), []
        while len(seen) < len(WORKLOADS):  # the first progress line per workload: it is being watched
            line = proc.stderr.readline()
            assert line, "deploy ended before reporting every workload"
            early.append(line)
            seen.add(line.split(":", 1)[0])
        assert seen == {f"{k}/{n}" for k, n in WORKLOADS}
        out, rest = proc.communicate(timeout=150)  # the sandbox's kubelet brings them up for real
        err = "".join(early) + rest  # a quick workload's first line may already say "rolled out"
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    result = json.loads(out)
    assert result["ok"] and all(w["done"] for w in result["workloads"]) and len(result["workloads"]) == 6
    rolled_out = {line.split(":", 1)[0] for line in err.splitlines() if line.endswith("(rolled out)")}
    assert rolled_out == {f"{k}/{n}" for k, n in WORKLOADS}
    # nothing changed since: the second deploy is a no-op and returns at once
    again = cli(sandbox, "deploy", "-n", namespace, "--timeout", "20", "-o", "json")
    assert again.returncode == 0, again.stderr
    assert {o["action"] for o in json.loads(again.stdout)["objects"]} == {"unchanged"}


def test_timeout_names_the_workloads_that_are_not_ready(sandbox, namespace, tmp_path):
    """Exactly the workloads not ready when the wait ran out are named. user-service's image
    cannot be pulled (config [images]), so it is one of them whatever the machine's speed; the
    others may or may not be ready in 2 s, and are named only if they were not."""
    init_secrets(sandbox, namespace)
    config = tmp_path / "tripgenctl.toml"
    config.write_text('[images]\n"user-service" = "registry.invalid/tripgen/user-service:none"\n')
    proc = cli(sandbox, "--config", str(config), "deploy", "-n", namespace, "--timeout", "2", "-o", "json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    late = {w["workload"] for w in result["workloads"] if not w["done"]}
    assert "deployment/user-service" in late
    named = result["message"].split("not ready after 2s: ", 1)[1]
    assert set(named.split(", ")) == late, result["message"]


def test_acceptance_secrets_init_then_deploy_brings_everything_up(sandbox, namespace):
    """SPEC's environment for real: every workload Ready (the apps' readiness = health UP with
    PostgreSQL and Redis reachable using the generated passwords); `kubectl get all` lists them."""
    init_secrets(sandbox, namespace)
    proc = cli(sandbox, "deploy", "-n", namespace, "--timeout", "240", "-o", "json", timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert all(w["done"] for w in json.loads(proc.stdout)["workloads"])
    listing = sandbox.kubectl("get", "all", "-n", namespace, check=True).stdout.decode()
    for kind, name in WORKLOADS:
        assert f"{kind}.apps/{name}" in listing
    for pod in ("postgresql-0", "redis-0"):
        assert pod in listing
    for app in ("user-service", "trip-service", "ai-service", "location-service"):
        health = sandbox.kubectl("get", "--raw", f"/api/v1/namespaces/{namespace}/services/{app}:8080/proxy/actuator/health", check=True).stdout.decode()
        assert '"UP"' in health, (app, health)
    assert cli(sandbox, "diff", "-n", namespace).returncode == 0

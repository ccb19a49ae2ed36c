"""The sandbox's `probe_period_cap` (the test sessions set 1 s, conftest.py): a readiness or
startup probe with a manifest's 10-30 s period tries every second until it first succeeds, so a
pod is Ready about as soon as it answers, while the time a failing probe is given
(failureThreshold x periodSeconds) stays what the pod asked for; after its first success it is on
its own schedule. Liveness keeps its own schedule. Without a cap nothing changes."""

from __future__ import annotations

import time

from tripgen_sandbox.kubelet.probes import ProbeTiming, timing

SLOW = {"initialDelaySeconds": 40, "periodSeconds": 60, "failureThreshold": 3}


def test_readiness_and_startup_try_every_cap_seconds_and_keep_their_failure_budget():
    assert timing("readiness", SLOW, 1.0) == ProbeTiming(1.0, 1.0, 180)
    assert timing("startup", {"periodSeconds": 5, "failureThreshold": 36}, 1.0) == ProbeTiming(0.0, 1.0, 180)
    assert timing("readiness", {"periodSeconds": 1, "failureThreshold": 2}, 1.0) == ProbeTiming(0.0, 1.0, 2)  # already often enough


def test_liveness_an_uncapped_sandbox_and_a_probe_that_succeeded_keep_the_pods_schedule():
    assert timing("liveness", SLOW, 1.0) == ProbeTiming(40.0, 60.0, 3)
    assert timing("readiness", SLOW, 1.0, succeeded=True) == ProbeTiming(40.0, 60.0, 3)
    assert timing("readiness", SLOW) == ProbeTiming(40.0, 60.0, 3)
    assert timing("startup", {}, 0.0) == ProbeTiming(0.0, 10.0, 3)  # the Kubernetes defaults


def test_a_pod_with_a_60s_readiness_period_is_ready_in_seconds(sandbox, namespace):
    core = sandbox.kube(namespace).core
    core.create_namespaced_pod(namespace, {"metadata": {"name": "slow-probe"}, "spec": {"containers": [{
        "name": "main", "image": "busybox:1.36", "command": ["sh", "-c", "sleep 2; touch /ready-now; exec sleep 300"],
        "readinessProbe": {"exec": {"command": ["cat", "/ready-now"]}, **SLOW},
    }]}})
    started = time.monotonic()
    sandbox.kubectl("wait", "-n", namespace, "--for=condition=Ready", "pod/slow-probe", "--timeout=90s", check=True)
    assert time.monotonic() - started < 35  # the pod's own schedule: not before its 40 s delay (then every 60 s)

"""The door's typed objects against the sandbox's real API: a Lease race has one winner and the
loser gets a typed Conflict; a Secret reads its values and shows none; a Namespace exists or does
not; a Job finds its own pods, whose phase, containers and logs match what kubectl says."""

from __future__ import annotations

import time

import pytest

from tripgenctl.kube.errors import Conflict, NotFound


def test_a_lease_race_has_one_winner_and_the_loser_gets_a_conflict(sandbox, namespace):
    from tripgenctl.kube.leases import Lease

    kube = sandbox.kube(namespace)
    assert Lease.get(kube, "race") is None
    created = Lease.create(kube, "race", "a@h pid 1", 15, "2026-01-01T00:00:00.000000Z", {"k": "v"})
    with pytest.raises(Conflict):  # created meanwhile by someone else
        Lease.create(kube, "race", "b@h pid 2", 15, "2026-01-01T00:00:00.000000Z")
    first, second = Lease.get(kube, "race"), Lease.get(kube, "race")
    assert first.holder == "a@h pid 1" and first.resource_version == created.resource_version and first.annotations == {"k": "v"}
    won = first.take(kube, "b@h pid 2", 15, "2026-01-01T00:00:01.000000Z")
    assert won.holder == "b@h pid 2" and won.transitions == first.transitions + 1 and won.resource_version != first.resource_version
    with pytest.raises(Conflict) as lost:  # read at the same resourceVersion: too late
        second.renew(kube, "2026-01-01T00:00:02.000000Z")
    assert lost.value.exit_code == 1 and "lease race" in lost.value.message
    released = won.release(kube, "2026-01-01T00:00:03.000000Z")
    assert released.holder is None and released.annotations == {"k": "v"}
    kubectl = sandbox.kubectl("get", "lease", "race", "-n", namespace, "-o", "jsonpath={.spec.holderIdentity}|{.spec.leaseTransitions}")
    assert kubectl.returncode == 0 and kubectl.stdout.decode() == f"|{won.transitions}", kubectl.stdout
    gone = sandbox.kubectl("delete", "lease", "race", "-n", namespace)
    assert gone.returncode == 0, gone.stderr
    with pytest.raises(NotFound):
        released.renew(kube, "2026-01-01T00:00:04.000000Z")


def test_a_secret_reads_its_values_and_shows_none(sandbox, namespace):
    from tripgenctl.kube.secrets import Secret

    kube = sandbox.kube(namespace)
    made = sandbox.kubectl("create", "secret", "generic", "creds", "-n", namespace, "--from-literal=password=hunter2-xyz", "--from-literal=empty=")
    assert made.returncode == 0, made.stderr
    secret = Secret.get(kube, "creds")
    assert secret.values() == {"password": "hunter2-xyz", "empty": ""} and secret.value("empty", "dflt") == "dflt"
    assert "hunter2" not in repr(secret) and "hunter2" not in str(secret) and "password" in repr(secret)
    updated = secret.update({"password": "n3w-value"})
    with pytest.raises(Conflict):  # a second writer at the old resourceVersion
        secret.update({"password": "other"})
    assert Secret.get(kube, "creds").value("password") == "n3w-value" and updated.resource_version != secret.resource_version
    assert Secret.get(kube, "nope", missing_ok=True) is None
    with pytest.raises(NotFound) as missing:
        Secret.get(kube, "nope")
    assert "secret nope" in missing.value.message
    body = Secret.manifest("creds", namespace, {"x": "1"})
    with pytest.raises(Conflict):
        Secret.create(kube, body)


def test_a_namespace_exists_or_not(sandbox, namespace):
    from tripgenctl.kube.namespaces import Namespace

    kube = sandbox.kube(namespace)
    assert Namespace.exists(kube, namespace) and not Namespace.exists(kube, f"{namespace}-x")
    made = Namespace.create(kube, f"{namespace}-x", labels={"a": "b"})
    assert made.name == f"{namespace}-x" and made.labels.get("a") == "b" and Namespace.exists(kube, made.name)
    with pytest.raises(Conflict):
        Namespace.create(kube, made.name)
    assert Namespace.delete(kube, made.name) is True
    deadline = time.monotonic() + 30
    while Namespace.exists(kube, made.name) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not Namespace.exists(kube, made.name) and Namespace.delete(kube, made.name) is False


def test_a_job_finds_its_pods_with_their_state_and_logs(sandbox, namespace):
    from tripgenctl.kube.jobs import Job
    from tripgenctl.ops import waiting

    kube = sandbox.kube(namespace)
    body = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "say", "namespace": namespace},
            "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never", "containers": [
                {"name": "talk", "image": "busybox:latest", "command": ["sh", "-c", "echo one; echo two; echo three; exit 3"]}]}}}}
    job = Job.create(kube, body)
    with pytest.raises(Conflict):
        Job.create(kube, body)
    assert waiting.watch_list(kube, Job.collection(kube), lambda jobs: "say" in jobs and Job.from_json(jobs["say"]).finished, 60)
    done = Job.get(kube, "say")
    assert done.condition("Failed") is not None and done.condition("Complete") is None and done.failed == 1
    pods = job.pods(kube)
    assert len(pods) == 1
    pod = pods[0]
    assert pod.phase == "Failed" and not pod.ready and pod.spec_containers == ["talk"]
    (talk,) = pod.containers
    assert talk.name == "talk" and talk.state == "terminated" and talk.exit_code == 3 and not talk.init
    kubectl = sandbox.kubectl("logs", pod.name, "-n", namespace, "-c", "talk", "--tail", "2")
    assert pod.logs("talk", tail_lines=2) == kubectl.stdout.decode() and "two\nthree" in kubectl.stdout.decode()
    assert Job.delete(kube, "say") is True
    assert waiting.wait_deleted(kube, Job.collection(kube), "say", 30)
    assert Job.delete(kube, "say") is False and Job.get(kube, "say", missing_ok=True) is None


def test_a_watch_by_plural_sends_its_label_selector_to_the_server(sandbox, namespace):
    """restart's pod watch used to glue `?labelSelector=` to the path ahead of the watch's own
    query: the server saw no watch at all and answered a list at once (a hot loop)."""
    from tripgenctl.kube import objects

    kube = sandbox.kube(namespace)
    rv = objects.list_answer(kube, "v1", "configmaps", selector="app=a")["metadata"]["resourceVersion"]
    for name in ("b", "a"):  # the other one first: a watch that ignored the selector would see it
        made = sandbox.kubectl("create", "configmap", name, "-n", namespace, f"--from-literal=k={name}")
        assert made.returncode == 0, made.stderr
        assert sandbox.kubectl("label", "configmap", name, "-n", namespace, f"app={name}").returncode == 0
    started = time.monotonic()
    events = objects.watch(kube, "v1", "configmaps", selector={"app": "a"}, resource_version=rv, timeout_seconds=10)
    type_, obj = next(iter(events))
    assert obj["metadata"]["name"] == "a" and type_ in ("ADDED", "MODIFIED") and time.monotonic() - started < 10
    assert [o["metadata"]["name"] for o in objects.list_answer(kube, "v1", "configmaps", selector="app=a")["items"]] == ["a"]
    quiet = list(objects.watch(kube, "v1", "configmaps", selector="app=none", timeout_seconds=1))
    assert quiet == [] and time.monotonic() - started >= 1  # a real watch: it waited for the server to end it

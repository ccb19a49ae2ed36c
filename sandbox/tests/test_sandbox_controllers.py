"""The sandbox controllers and scheduler in-process: a Store + Cluster + the controller manager,
with NO kubelet. The test plays the kubelet by writing pod status (Running/Ready, Succeeded,
Failed) and by finishing graceful deletions, so every step is deterministic and fast."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from pathlib import Path

from tripgenctl.cron import Cron
from tripgen_sandbox.apiserver.defaults import apply_defaults
from tripgen_sandbox.cluster import Cluster
from tripgen_sandbox.config import SandboxConfig
from tripgen_sandbox.controllers import build, ensure_bootstrap, start_all
from tripgen_sandbox.store import Store

NS = "ct"


class Harness:
    def __init__(self, tmp: Path, clock=None):
        self.config = SandboxConfig(state_dir=tmp, backoff_base=0.5, backoff_cap=4.0, api_port=6443)
        self.store = Store(None)
        self.cluster = Cluster(config=self.config, store=self.store)
        ensure_bootstrap(self.cluster)
        self.manager = build(self.cluster, clock=clock)
        self.manager.listen()
        self.manager.resync_all()
        self.store.create("namespaces", {"metadata": {"name": NS}})
        self._ip = 10
        self.changed = asyncio.Event()
        self.store.on_change(lambda *a: self.changed.set())

    # ---- the API side ---------------------------------------------------------------------
    def create(self, key: str, obj: dict) -> dict:
        obj.setdefault("metadata", {}).setdefault("namespace", NS)
        apply_defaults(obj["kind"], obj)
        return self.store.create(key, obj)

    def patch_spec(self, key: str, name: str, **fields) -> None:
        self.store.mutate(key, NS, name, lambda o: o["spec"].update(fields))

    def pods(self, prefix: str = "", include_deleting: bool = False) -> list[dict]:
        out = [p for p in self.store.list("pods", NS)[0] if p["metadata"]["name"].startswith(prefix)]
        return [p for p in out if include_deleting or not p["metadata"].get("deletionTimestamp")]

    def get(self, key: str, name: str, ns: str | None = NS) -> dict | None:
        return self.store.get(key, ns, name)

    def events(self, reason: str) -> list[dict]:
        return [e for e in self.store.list("events", NS)[0] if e["reason"] == reason]

    # ---- the kubelet's side ------------------------------------------------------------------
    def run_pod(self, pod: dict, ready: bool = True) -> None:
        self._ip += 1
        ip = f"127.1.0.{self._ip}"

        def st(o):
            s = o.setdefault("status", {})
            s["phase"] = "Running"
            s.setdefault("podIP", ip)
            s["podIPs"] = [{"ip": s["podIP"]}]
            conds = [c for c in s.get("conditions") or [] if c["type"] not in ("Ready", "ContainersReady")]
            conds += [{"type": t, "status": "True" if ready else "False", "lastTransitionTime": "2024-01-01T00:00:00Z"} for t in ("Ready", "ContainersReady")]
            s["conditions"] = conds
            s["containerStatuses"] = [{"name": c["name"], "ready": ready, "restartCount": 0, "state": {"running": {"startedAt": "2024-01-01T00:00:00Z"}}}
                                      for c in o["spec"]["containers"]]
        self.store.mutate("pods", NS, pod["metadata"]["name"], st, subresource="status")

    def finish_pod(self, pod: dict, exit_code: int) -> None:
        finished = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

        def st(o):
            s = o.setdefault("status", {})
            s["phase"] = "Succeeded" if exit_code == 0 else "Failed"
            s["conditions"] = [c for c in s.get("conditions") or [] if c["type"] == "PodScheduled"] + [{"type": "Ready", "status": "False"}]
            s["containerStatuses"] = [{"name": c["name"], "ready": False, "restartCount": 0,
                                       "state": {"terminated": {"exitCode": exit_code, "reason": "Completed" if exit_code == 0 else "Error",
                                                                "finishedAt": finished}}} for c in o["spec"]["containers"]]
        self.store.mutate("pods", NS, pod["metadata"]["name"], st, subresource="status")

    def reap(self) -> int:
        """Finish graceful deletions as the kubelet does once containers stopped."""
        gone = [p for p in self.pods(include_deleting=True) if p["metadata"].get("deletionTimestamp")]
        for p in gone:
            self.store.delete("pods", NS, p["metadata"]["name"], force=True)
        return len(gone)

    def run_all(self, prefix: str = "") -> None:
        for p in self.pods(prefix):
            if p["spec"].get("nodeName") and (p.get("status") or {}).get("phase") == "Pending":
                self.run_pod(p)

    async def settle(self) -> None:
        await self.manager.settle()

    async def until(self, predicate, timeout: float = 5.0, what: str = "condition"):
        """Drive the controllers until predicate() holds; wakes on store changes and on the
        manager's delayed requeues (back-offs)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            await self.settle()
            value = predicate()
            if value:
                return value
            if loop.time() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), timeout=0.05)
            except asyncio.TimeoutError:
                pass


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def container(name="app", image="busybox:1.36", **resources) -> dict:
    c = {"name": name, "image": image, "command": ["sleep", "3600"]}
    if resources:
        c["resources"] = resources
    return c


def deployment(name: str, replicas: int, image: str = "busybox:1.36") -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container(image=image)]}}}}


def cond(obj: dict, type_: str) -> dict:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == type_), {})


# ---- bootstrap --------------------------------------------------------------------------------
def test_bootstrap_is_idempotent_and_shapes_nodes_like_aks(tmp_path):
    async def body():
        h = Harness(tmp_path)
        ensure_bootstrap(h.cluster)
        for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
            assert h.get("namespaces", ns, None)
        nodes = h.store.list("nodes")[0]
        assert [n["metadata"]["name"] for n in nodes] == ["sandbox-node-1", "sandbox-node-2"]
        n = nodes[0]
        assert n["status"]["allocatable"]["cpu"] == "1900m" and n["status"]["capacity"]["cpu"] == "2"
        assert n["metadata"]["labels"]["node.kubernetes.io/instance-type"] == "Standard_B2s"
        assert n["metadata"]["labels"]["kubernetes.azure.com/scalesetpriority"] == "spot"
        assert n["status"]["nodeInfo"]["kubeletVersion"] == "v1.29.4"
        assert cond(n, "Ready")["status"] == "True"
        assert {"type": "InternalIP", "address": "127.3.0.1"} in n["status"]["addresses"]
        sc = h.get("storageclasses.storage.k8s.io", "managed-csi", None)
        assert sc["provisioner"] == "disk.csi.azure.com"
        assert sc["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
        assert h.get("services", "kubernetes", "default")["spec"]["ports"][0]["port"] == 443
        assert h.get("endpoints", "kubernetes", "default")["subsets"][0]["ports"][0]["port"] == 6443
        await h.settle()
        assert h.get("serviceaccounts", "default", NS) is not None
    run(body())


# ---- Deployment / ReplicaSet ----------------------------------------------------------------------
def test_deployment_create_scale_rollout_and_scale_to_zero(tmp_path):
    async def body():
        h = Harness(tmp_path)
        h.create("deployments.apps", deployment("web", 3))
        await h.settle()
        [rs] = h.store.list("replicasets.apps", NS)[0]
        hash_ = rs["metadata"]["labels"]["pod-template-hash"]
        assert rs["metadata"]["name"] == f"web-{hash_}"
        assert rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
        pods = h.pods("web-")
        assert len(pods) == 3
        for p in pods:
            ref = p["metadata"]["ownerReferences"][0]
            assert ref["kind"] == "ReplicaSet" and ref["uid"] == rs["metadata"]["uid"] and ref["controller"] and ref["blockOwnerDeletion"]
            assert p["metadata"]["labels"]["pod-template-hash"] == hash_
            assert p["spec"]["nodeName"] in ("sandbox-node-1", "sandbox-node-2")
            assert cond(p, "PodScheduled")["status"] == "True"
        d = h.get("deployments.apps", "web")
        assert d["status"]["observedGeneration"] == 1 and d["status"]["updatedReplicas"] == 3
        assert d["status"]["unavailableReplicas"] == 3 and "availableReplicas" not in d["status"]
        assert cond(d, "Available")["status"] == "False"
        assert cond(d, "Progressing")["reason"] != "NewReplicaSetAvailable"
        assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"

        h.run_all()
        await h.settle()
        d = h.get("deployments.apps", "web")
        st = d["status"]
        assert (st["replicas"], st["updatedReplicas"], st["readyReplicas"], st["availableReplicas"]) == (3, 3, 3, 3)
        assert "unavailableReplicas" not in st
        assert cond(d, "Available")["status"] == "True" and cond(d, "Available")["reason"] == "MinimumReplicasAvailable"
        assert cond(d, "Progressing")["reason"] == "NewReplicaSetAvailable"
        rs = h.store.list("replicasets.apps", NS)[0][0]
        assert rs["status"] == {"replicas": 3, "fullyLabeledReplicas": 3, "readyReplicas": 3, "availableReplicas": 3, "observedGeneration": 1}
        assert any("Scaled up replica set" in e["message"] for e in h.events("ScalingReplicaSet"))
        assert len([e for e in h.store.list("events", NS)[0] if e["reason"] == "SuccessfulCreate"]) == 3

        # scale up
        h.patch_spec("deployments.apps", "web", replicas=5)
        await h.settle()
        assert len(h.pods("web-")) == 5
        h.run_all()
        await h.settle()
        assert h.get("deployments.apps", "web")["status"]["availableReplicas"] == 5

        # rolling update: never fewer than replicas - maxUnavailable (5 - 1) ready pods
        h.patch_spec("deployments.apps", "web", template={"metadata": {"labels": {"app": "web"}},
                                                           "spec": {"containers": [container(image="busybox:latest")]}})
        d = h.get("deployments.apps", "web")
        assert d["metadata"]["generation"] == 3
        for _ in range(30):
            await h.settle()
            ready = [p for p in h.pods("web-") if cond(p, "Ready").get("status") == "True"]
            assert len(ready) >= 4
            d = h.get("deployments.apps", "web")
            if cond(d, "Progressing").get("reason") == "NewReplicaSetAvailable" and d["status"]["observedGeneration"] == 3:
                break
            h.run_all()
            h.reap()
        else:
            raise AssertionError(f"rollout did not finish: {d['status']}")
        sets = {rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: rs for rs in h.store.list("replicasets.apps", NS)[0]}
        assert sets["1"]["spec"]["replicas"] == 0 and sets["2"]["spec"]["replicas"] == 5
        assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
        assert (d["status"]["updatedReplicas"], d["status"]["availableReplicas"], d["status"]["replicas"]) == (5, 5, 5)
        assert all(p["spec"]["containers"][0]["image"] == "busybox:latest" for p in h.pods("web-"))
        assert any("Scaled down replica set" in e["message"] and "to 0" in e["message"] for e in h.events("ScalingReplicaSet"))

        # scale to zero
        h.patch_spec("deployments.apps", "web", replicas=0)
        await h.settle()
        assert h.pods("web-") == []
        h.reap()
        await h.settle()
        d = h.get("deployments.apps", "web")
        assert "replicas" not in d["status"] and "availableReplicas" not in d["status"]
        assert cond(d, "Available")["status"] == "True"
        assert cond(d, "Progressing")["reason"] == "NewReplicaSetAvailable"
    run(body())


# ---- StatefulSet + PVCs ------------------------------------------------------------------------------
def statefulset(name: str, replicas: int) -> dict:
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name},
            "spec": {"replicas": replicas, "serviceName": name, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container()]}},
                     "volumeClaimTemplates": [{"metadata": {"name": "data"},
                                               "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}}}]}}


def test_statefulset_ordered_pods_and_pvcs_survive_scale_to_zero(tmp_path):
    async def body():
        h = Harness(tmp_path)
        h.create("statefulsets.apps", statefulset("db", 3))
        await h.settle()
        assert [p["metadata"]["name"] for p in h.pods("db-")] == ["db-0"]  # OrderedReady: one at a time
        pvc = h.get("persistentvolumeclaims", "data-db-0")
        assert pvc["status"]["phase"] == "Bound" and pvc["status"]["capacity"] == {"storage": "5Gi"}
        assert pvc["spec"]["volumeName"] == f"pvc-{pvc['metadata']['uid']}" and pvc["spec"]["storageClassName"] == "managed-csi"
        assert h.get("persistentvolumes", pvc["spec"]["volumeName"], None)["spec"]["claimRef"]["name"] == "data-db-0"
        p0 = h.get("pods", "db-0")
        assert p0["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] == "db-0"
        assert p0["metadata"]["labels"]["controller-revision-hash"].startswith("db-")
        assert p0["spec"]["hostname"] == "db-0" and p0["spec"]["subdomain"] == "db"
        assert {"name": "data", "persistentVolumeClaim": {"claimName": "data-db-0"}} in p0["spec"]["volumes"]

        h.run_pod(h.get("pods", "db-0"), ready=False)
        await h.settle()
        assert len(h.pods("db-")) == 1  # not Ready yet: db-1 waits
        h.run_pod(h.get("pods", "db-0"))
        await h.settle()
        assert [p["metadata"]["name"] for p in h.pods("db-")] == ["db-0", "db-1"]
        h.run_all()
        await h.settle()
        h.run_all()
        await h.settle()
        s = h.get("statefulsets.apps", "db")["status"]
        assert (s["replicas"], s["readyReplicas"], s["currentReplicas"], s["updatedReplicas"], s["availableReplicas"]) == (3, 3, 3, 3, 3)
        assert s["currentRevision"] == s["updateRevision"] and s["observedGeneration"] == 1
        uids = {n: h.get("persistentvolumeclaims", f"data-db-{n}")["metadata"]["uid"] for n in range(3)}

        # scale to 0: highest ordinal first, one at a time
        h.patch_spec("statefulsets.apps", "db", replicas=0)
        await h.settle()
        assert [p["metadata"]["name"] for p in h.pods("db-")] == ["db-0", "db-1"]
        order = []
        for _ in range(5):
            deleting = [p["metadata"]["name"] for p in h.pods("db-", include_deleting=True) if p["metadata"].get("deletionTimestamp")]
            order += deleting
            h.reap()
            await h.settle()
        assert order == ["db-2", "db-1", "db-0"]
        assert h.pods("db-", include_deleting=True) == []
        for n in range(3):
            pvc = h.get("persistentvolumeclaims", f"data-db-{n}")
            assert pvc is not None and pvc["status"]["phase"] == "Bound"

        # and back: the same claim (same uid) is mounted again
        h.patch_spec("statefulsets.apps", "db", replicas=1)
        await h.settle()
        p0 = h.get("pods", "db-0")
        assert {"name": "data", "persistentVolumeClaim": {"claimName": "data-db-0"}} in p0["spec"]["volumes"]
        assert h.get("persistentvolumeclaims", "data-db-0")["metadata"]["uid"] == uids[0]
        # deleting the set keeps the claims (default retention)
        h.store.delete("statefulsets.apps", NS, "db")
        h.reap()
        await h.settle()
        assert h.get("persistentvolumeclaims", "data-db-0") is not None
    run(body())


def test_statefulset_template_change_rolls_highest_ordinal_first(tmp_path):
    async def body():
        h = Harness(tmp_path)
        h.create("statefulsets.apps", statefulset("kv", 2))
        await h.until(lambda: (h.run_all(), len(h.pods("kv-")) == 2 and h.get("statefulsets.apps", "kv")["status"].get("readyReplicas") == 2)[1])
        old_rev = h.get("statefulsets.apps", "kv")["status"]["currentRevision"]
        h.patch_spec("statefulsets.apps", "kv", template={"metadata": {"labels": {"app": "kv"}}, "spec": {"containers": [container(image="alpine:3.19")]}})
        await h.settle()
        assert h.get("pods", "kv-1")["metadata"].get("deletionTimestamp")
        assert not h.get("pods", "kv-0")["metadata"].get("deletionTimestamp")
        st = h.get("statefulsets.apps", "kv")["status"]
        assert st["updateRevision"] != old_rev and st["currentRevision"] == old_rev

        def done():
            h.reap()
            h.run_all()
            s = h.get("statefulsets.apps", "kv")["status"]
            return s.get("updatedReplicas") == 2 and s.get("readyReplicas") == 2 and s["currentRevision"] == s["updateRevision"]
        await h.until(done, what="rolled statefulset")
        assert all(p["spec"]["containers"][0]["image"] == "alpine:3.19" for p in h.pods("kv-"))
    run(body())


# ---- Jobs ---------------------------------------------------------------------------------------------
def job(name: str, backoff_limit: int = 6, **spec) -> dict:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"backoffLimit": backoff_limit, "template": {"spec": {"containers": [container()], "restartPolicy": "Never"}}, **spec}}


def test_job_runs_to_completion(tmp_path):
    async def body():
        h = Harness(tmp_path)
        created = h.create("jobs.batch", job("once", completions=2))
        await h.settle()
        [p] = h.pods("once-")
        labels = p["metadata"]["labels"]
        uid = created["metadata"]["uid"]
        assert labels["job-name"] == "once" and labels["batch.kubernetes.io/job-name"] == "once"
        assert labels["controller-uid"] == uid and labels["batch.kubernetes.io/controller-uid"] == uid
        j = h.get("jobs.batch", "once")
        assert j["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
        assert j["status"]["active"] == 1 and j["status"]["startTime"]
        h.run_pod(p)
        await h.settle()
        assert h.get("jobs.batch", "once")["status"]["ready"] == 1
        h.finish_pod(p, 0)
        await h.settle()
        [p2] = [x for x in h.pods("once-") if x["metadata"]["name"] != p["metadata"]["name"]]
        h.finish_pod(p2, 0)
        await h.settle()
        j = h.get("jobs.batch", "once")
        c = cond(j, "Complete")
        assert c["status"] == "True"
        assert j["status"]["succeeded"] == 2 and "active" not in j["status"] and j["status"]["completionTime"]
        assert h.events("Completed")[0]["source"]["component"] == "job-controller"
        # a finished job creates nothing more
        await h.settle()
        assert len(h.pods("once-")) == 2
    run(body())


def test_job_backoff_limit_fails_with_condition(tmp_path):
    async def body():
        h = Harness(tmp_path)
        h.create("jobs.batch", job("flaky", backoff_limit=1))
        await h.settle()
        [first] = h.pods("flaky-")
        h.finish_pod(first, 1)
        await h.settle()
        # back-off: config.backoff_base 0.5 -> 0.05 s before the retry
        second = await h.until(lambda: [p for p in h.pods("flaky-") if p["metadata"]["name"] != first["metadata"]["name"]], what="retry pod")
        assert h.get("jobs.batch", "flaky")["status"]["failed"] == 1
        h.finish_pod(second[0], 1)
        await h.until(lambda: cond(h.get("jobs.batch", "flaky"), "Failed").get("status") == "True", what="Failed condition")
        j = h.get("jobs.batch", "flaky")
        c = cond(j, "Failed")
        assert c["reason"] == "BackoffLimitExceeded" and c["message"] == "Job has reached the specified backoff limit"
        assert j["status"]["failed"] == 2 and "completionTime" not in j["status"]
        ev = h.events("BackoffLimitExceeded")
        assert ev and ev[0]["type"] == "Warning"
        await h.settle()
        assert len(h.pods("flaky-")) == 2  # no third attempt
    run(body())


def test_job_active_deadline(tmp_path):
    async def body():
        h = Harness(tmp_path)
        h.create("jobs.batch", job("slow", activeDeadlineSeconds=1))
        now = [datetime.now(timezone.utc)]
        h.manager.clock = lambda: now[0]
        await h.settle()
        assert len(h.pods("slow-")) == 1
        now[0] += timedelta(seconds=2)
        h.manager.enqueue_all("jobs")
        await h.settle()
        j = h.get("jobs.batch", "slow")
        assert cond(j, "Failed")["reason"] == "DeadlineExceeded"
        assert h.pods("slow-") == []  # the running pod is being deleted
    run(body())


# ---- CronJobs ---------------------------------------------------------------------------------------------
def cronjob(name: str, policy: str = "Allow") -> dict:
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name},
            "spec": {"schedule": "0 20 * * MON-FRI", "timeZone": "Asia/Seoul", "concurrencyPolicy": policy,
                     "jobTemplate": {"metadata": {"labels": {"app": name}},
                                     "spec": {"template": {"spec": {"containers": [container()], "restartPolicy": "Never"}}}}}}


def test_cronjob_creates_job_on_schedule_in_its_time_zone(tmp_path):
    async def body():
        now = [datetime.now(timezone.utc)]
        h = Harness(tmp_path, clock=lambda: now[0])
        cj = h.create("cronjobs.batch", cronjob("nightly"))
        await h.settle()
        assert h.store.list("jobs.batch", NS)[0] == []
        due = Cron.parse("0 20 * * MON-FRI").next_after(now[0], "Asia/Seoul")
        assert (due.hour, due.minute) == (20, 0) and due.weekday() < 5
        now[0] = due.astimezone(timezone.utc) + timedelta(seconds=5)
        h.manager.enqueue_all("cronjobs")
        await h.settle()
        [j] = h.store.list("jobs.batch", NS)[0]
        assert j["metadata"]["name"] == f"nightly-{int(due.timestamp() // 60)}"
        assert j["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"] == due.isoformat()
        assert j["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"].endswith("+09:00")
        assert j["metadata"]["ownerReferences"][0]["uid"] == cj["metadata"]["uid"]
        assert j["metadata"]["labels"]["app"] == "nightly"
        st = h.get("cronjobs.batch", "nightly")["status"]
        assert st["lastScheduleTime"] == due.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert [a["name"] for a in st["active"]] == [j["metadata"]["name"]]
        # its pod succeeds -> lastSuccessfulTime, active cleared, SawCompletedJob
        [p] = h.pods("nightly-")
        h.finish_pod(p, 0)
        await h.settle()
        st = h.get("cronjobs.batch", "nightly")["status"]
        assert "active" not in st and st["lastSuccessfulTime"]
        assert h.events("SawCompletedJob")
        # the same minute again creates nothing new
        h.manager.enqueue_all("cronjobs")
        await h.settle()
        assert len(h.store.list("jobs.batch", NS)[0]) == 1
    run(body())


def test_cronjob_forbid_skips_while_a_job_is_active_and_suspend_stops_it(tmp_path):
    async def body():
        now = [datetime.now(timezone.utc)]
        h = Harness(tmp_path, clock=lambda: now[0])
        h.create("cronjobs.batch", cronjob("guarded", "Forbid"))
        await h.settle()
        first = Cron.parse("0 20 * * MON-FRI").next_after(now[0], "Asia/Seoul")
        now[0] = first.astimezone(timezone.utc) + timedelta(seconds=1)
        h.manager.enqueue_all("cronjobs")
        await h.settle()
        assert len(h.store.list("jobs.batch", NS)[0]) == 1
        second = Cron.parse("0 20 * * MON-FRI").next_after(now[0], "Asia/Seoul")
        now[0] = second.astimezone(timezone.utc) + timedelta(seconds=1)
        h.manager.enqueue_all("cronjobs")
        await h.settle()
        assert len(h.store.list("jobs.batch", NS)[0]) == 1
        assert h.events("JobAlreadyActive")
        # suspended: nothing even when the active one is gone
        h.patch_spec("cronjobs.batch", "guarded", suspend=True)
        [p] = h.pods("guarded-")
        h.finish_pod(p, 0)
        await h.settle()
        assert len(h.store.list("jobs.batch", NS)[0]) == 1
    run(body())


# ---- scheduler --------------------------------------------------------------------------------------------
def pod(name: str, **spec) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"containers": [container()], **spec}}


def test_scheduler_leaves_oversized_pod_pending_with_failed_scheduling(tmp_path):
    async def body():
        h = Harness(tmp_path)
        h.create("pods", pod("huge", containers=[container(requests={"cpu": "8"})]))
        await h.settle()
        p = h.get("pods", "huge")
        assert not p["spec"].get("nodeName") and p["status"]["phase"] == "Pending"
        c = cond(p, "PodScheduled")
        assert c["status"] == "False" and c["reason"] == "Unschedulable"
        expected = ("0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: "
                    "2 No preemption victims found for incoming pod.")
        assert c["message"] == expected
        [ev] = h.events("FailedScheduling")
        assert ev["type"] == "Warning" and ev["source"]["component"] == "default-scheduler" and ev["message"] == expected
    run(body())


def test_scheduler_counts_requests_limits_and_retries_when_room_frees_up(tmp_path):
    async def body():
        h = Harness(tmp_path)
        # limits without requests request the limits: 1500m each, 1900m allocatable per node
        for name in ("a", "b", "c"):
            h.create("pods", pod(name, containers=[container(limits={"cpu": "1500m", "memory": "100Mi"})]))
        await h.settle()
        nodes = {n: h.get("pods", n)["spec"].get("nodeName") for n in ("a", "b", "c")}
        assert sorted(v for v in nodes.values() if v) == ["sandbox-node-1", "sandbox-node-2"]
        waiting = next(n for n, v in nodes.items() if not v)
        assert cond(h.get("pods", waiting), "PodScheduled")["message"].startswith("0/2 nodes are available: 2 Insufficient cpu.")
        # an init container bigger than the containers counts on its own
        h.create("pods", pod("init", initContainers=[container("init", requests={"memory": "3Gi"})]))
        await h.settle()
        assert "Insufficient memory" in cond(h.get("pods", "init"), "PodScheduled")["message"]
        # nodeSelector
        h.create("pods", pod("picky", nodeSelector={"agentpool": "gpu"}))
        await h.settle()
        assert "didn't match Pod's node affinity/selector" in cond(h.get("pods", "picky"), "PodScheduled")["message"]
        # a bound pod goes away: the waiting one is scheduled
        gone = next(n for n, v in nodes.items() if v)
        h.store.delete("pods", NS, gone, force=True)
        await h.settle()
        p = h.get("pods", waiting)
        assert p["spec"]["nodeName"] == nodes[gone] and cond(p, "PodScheduled")["status"] == "True"
        assert any(e["message"] == f"Successfully assigned {NS}/{waiting} to {nodes[gone]}" for e in h.events("Scheduled"))
    run(body())


# ---- Endpoints ------------------------------------------------------------------------------------------------
def test_endpoints_ready_and_not_ready_with_named_ports(tmp_path):
    async def body():
        h = Harness(tmp_path)
        h.create("services", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                              "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "api"}]}})
        for name in ("w1", "w2"):
            c = container()
            c["ports"] = [{"name": "api", "containerPort": 8080}]
            h.create("pods", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "web"}}, "spec": {"containers": [c]}})
        h.create("pods", pod("other"))
        await h.settle()
        ep = h.get("endpoints", "web")
        assert ep is not None and not ep.get("subsets")
        h.run_pod(h.get("pods", "w1"), ready=True)
        h.run_pod(h.get("pods", "w2"), ready=False)
        await h.settle()
        [subset] = h.get("endpoints", "web")["subsets"]
        assert [a["targetRef"]["name"] for a in subset["addresses"]] == ["w1"]
        assert [a["targetRef"]["name"] for a in subset["notReadyAddresses"]] == ["w2"]
        a = subset["addresses"][0]
        w1 = h.get("pods", "w1")
        assert a["ip"] == w1["status"]["podIP"] and a["nodeName"] == w1["spec"]["nodeName"] and a["targetRef"]["uid"] == w1["metadata"]["uid"]
        assert subset["ports"] == [{"port": 8080, "protocol": "TCP", "name": "http"}]
        h.run_pod(h.get("pods", "w2"), ready=True)
        await h.settle()
        [subset] = h.get("endpoints", "web")["subsets"]
        assert len(subset["addresses"]) == 2 and "notReadyAddresses" not in subset
        h.store.delete("services", NS, "web")
        await h.settle()
        assert h.get("endpoints", "web") is None
    run(body())


# ---- nodes ------------------------------------------------------------------------------------------------------
def test_node_notready_fault_and_recovery(tmp_path):
    async def body():
        now = [datetime.now(timezone.utc)]
        h = Harness(tmp_path, clock=lambda: now[0])
        since = "2024-01-01T00:00:00Z"
        h.cluster.faults["node-notready"] = {"sandbox-node-1": since}
        h.manager.enqueue_all("nodes")
        await h.settle()
        n = h.get("nodes", "sandbox-node-1", None)
        ready = cond(n, "Ready")
        assert ready["status"] == "Unknown" and ready["reason"] == "NodeStatusUnknown" and ready["lastTransitionTime"] == since
        assert {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule", "timeAdded": since} in n["spec"]["taints"]
        assert cond(h.get("nodes", "sandbox-node-2", None), "Ready")["status"] == "True"
        beat = cond(n, "Ready").get("lastHeartbeatTime")
        # new pods avoid the node
        for i in range(3):
            h.create("pods", pod(f"p{i}"))
        await h.settle()
        assert {h.get("pods", f"p{i}")["spec"]["nodeName"] for i in range(3)} == {"sandbox-node-2"}
        # no heartbeat while down
        now[0] += timedelta(seconds=30)
        h.manager.enqueue_all("nodes")
        await h.settle()
        assert cond(h.get("nodes", "sandbox-node-1", None), "Ready").get("lastHeartbeatTime") == beat
        old_beat = cond(h.get("nodes", "sandbox-node-2", None), "Ready")["lastHeartbeatTime"]
        assert old_beat == now[0].strftime("%Y-%m-%dT%H:%M:%SZ")
        # recovery
        del h.cluster.faults["node-notready"]
        h.manager.enqueue_all("nodes")
        await h.settle()
        n = h.get("nodes", "sandbox-node-1", None)
        assert cond(n, "Ready")["status"] == "True" and cond(n, "Ready")["reason"] == "KubeletReady"
        assert not n["spec"].get("taints")
        assert h.get("leases.coordination.k8s.io", "sandbox-node-1", "kube-node-lease") is not None
    run(body())


# ---- garbage collection and the running manager ------------------------------------------------------
def test_gc_sweeps_orphans(tmp_path):
    async def body():
        h = Harness(tmp_path)
        h.create("configmaps", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "orphan", "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "Deployment", "name": "gone", "uid": "00000000-dead-beef-0000-000000000000", "controller": True}]}})
        h.create("configmaps", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "free"}})
        h.manager.enqueue_all("garbagecollector")
        await h.settle()
        assert h.get("configmaps", "orphan") is None and h.get("configmaps", "free") is not None
    run(body())


def test_started_controllers_converge_and_go_quiet(tmp_path):
    async def body():
        config = SandboxConfig(state_dir=tmp_path, backoff_base=0.5, backoff_cap=4.0)
        store = Store(None)
        cluster = Cluster(config=config, store=store)
        ensure_bootstrap(cluster)
        store.create("namespaces", {"metadata": {"name": NS}})
        tasks = start_all(cluster)
        try:
            d = deployment("bg", 2)
            d["metadata"]["namespace"] = NS
            apply_defaults("Deployment", d)
            store.create("deployments.apps", d)
            changed = asyncio.Event()
            store.on_change(lambda *a: changed.set())

            async def until(pred):
                while not pred():
                    changed.clear()
                    await asyncio.wait_for(changed.wait(), 5)
            await until(lambda: len([p for p in store.list("pods", NS)[0] if p["spec"].get("nodeName")]) == 2)
            await asyncio.sleep(0.3)  # let the follow-up reconciles finish
            rv = store.resource_version
            await asyncio.sleep(0.5)
            writes = [e for e in store._history if int(e[0]) > int(rv) and e[2] not in ("nodes", "leases.coordination.k8s.io")]
            assert writes == [], f"controllers kept writing: {[(e[1], e[2], e[3]['metadata']['name']) for e in writes]}"
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    run(body())

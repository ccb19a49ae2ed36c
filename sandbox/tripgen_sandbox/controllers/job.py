"""job-controller: runs a Job's pods to completion. Pods carry job-name /
batch.kubernetes.io/job-name and controller-uid / batch.kubernetes.io/controller-uid labels
(the Job's spec.selector is filled in when a Job was written without one, as the API server's
Job strategy does). parallelism and completions as in NonIndexed mode; failed pods (or, with
restartPolicy OnFailure, container restarts) count towards backoffLimit; activeDeadlineSeconds;
suspend; ttlSecondsAfterFinished. Conditions Complete (Completed) and Failed
(BackoffLimitExceeded / DeadlineExceeded) with status "True" are what `kubectl wait` reads.

Back-off between failed attempts: the real controller waits 10 s doubling up to 6 min; here it
is a tenth of the kubelet back-off from config: backoff_base / 10 doubling up to backoff_cap / 10
(1 s, 2 s, 4 s ... 30 s by default; 0.05 s ... 0.4 s with the test sandbox's 0.5 / 4.0)."""

from __future__ import annotations

from tripgen_sandbox.apierrors import ApiError
from tripgen_sandbox.controllers.common import (
    controller_ref, create_pod, delete_pod, deleting, drop_empty, fmt_time, new_pod, owned, parse_time, phase, pod_ready, set_condition,
)
from tripgen_sandbox.controllers.manager import Controller

COMPONENT = "job-controller"
BACKOFF_SCALE = 0.1


def finished(job: dict) -> str | None:
    """"Complete" / "Failed" when the Job has that condition with status True."""
    for c in (job.get("status") or {}).get("conditions") or []:
        if c.get("type") in ("Complete", "Failed") and c.get("status") == "True":
            return c["type"]
    return None


def _last_finish(pod: dict):
    times = []
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        t = parse_time(((cs.get("state") or {}).get("terminated") or {}).get("finishedAt"))
        if t:
            times.append(t)
    return max(times) if times else None


class JobController(Controller):
    name = "jobs"
    primary = "jobs.batch"
    watches = ("pods",)

    def keys_for(self, type_, key, obj):
        if key == "pods":
            ref = controller_ref(obj)
            if ref and ref.get("kind") == "Job":
                yield (obj["metadata"]["namespace"], ref["name"])
        else:
            yield from super().keys_for(type_, key, obj)

    def backoff(self, failures: int) -> float:
        base = self.config.backoff_base * BACKOFF_SCALE
        cap = self.config.backoff_cap * BACKOFF_SCALE
        return min(cap, base * (2 ** max(0, failures - 1)))

    def _ensure_selector(self, job: dict) -> dict:
        meta, spec = job["metadata"], job.get("spec") or {}
        uid, name = meta["uid"], meta["name"]
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        if spec.get("selector") and labels.get("batch.kubernetes.io/controller-uid", uid) == uid:
            return job
        if spec.get("manualSelector"):
            return job

        def fill(o):
            s = o.setdefault("spec", {})
            if not s.get("selector"):
                s["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
            tl = s.setdefault("template", {}).setdefault("metadata", {}).setdefault("labels", {})
            tl.update({"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name, "controller-uid": uid, "job-name": name})
            o["metadata"].setdefault("labels", {}).update({"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name,
                                                           "controller-uid": uid, "job-name": name})
        return self.store.mutate("jobs.batch", meta["namespace"], name, fill) or job

    def reconcile(self, key) -> float | None:
        job = self.get(key)
        if job is None or deleting(job):
            return None
        job = self._ensure_selector(job)
        ns, name = key
        meta, spec = job["metadata"], job.get("spec") or {}
        status = dict(job.get("status") or {})
        now = self.now()
        pods = owned(self.store, "pods", ns, meta["uid"])
        live = [p for p in pods if phase(p) not in ("Succeeded", "Failed") and not deleting(p)]
        succeeded = sum(1 for p in pods if phase(p) == "Succeeded")
        failed_pods = [p for p in pods if phase(p) == "Failed"]
        restarts = 0
        if (spec.get("template") or {}).get("spec", {}).get("restartPolicy") == "OnFailure":
            restarts = sum(cs.get("restartCount", 0) for p in live for cs in (p.get("status") or {}).get("containerStatuses") or [])
        # counts never go down when finished pods are deleted by hand
        succeeded = max(succeeded, int(status.get("succeeded") or 0))
        failed = max(len(failed_pods), int(status.get("failed") or 0))
        done = finished(job)
        completions = spec.get("completions")
        parallelism = int(spec.get("parallelism", 1) if spec.get("parallelism") is not None else 1)
        backoff_limit = int(spec.get("backoffLimit", 6) if spec.get("backoffLimit") is not None else 6)
        stamp = fmt_time(now)
        conds = status.get("conditions") or []
        again: float | None = None
        if not done and spec.get("suspend"):
            for p in live:
                delete_pod(self.store, job, p, COMPONENT)
            live = []
            if not any(c.get("type") == "Suspended" and c.get("status") == "True" for c in conds):
                conds = set_condition(conds, "Suspended", "True", "JobSuspended", "Job suspended", stamp)
                self.store.record_event(job, "Suspended", "Job suspended", "Normal", COMPONENT)
            status.pop("startTime", None)
        elif not done:
            if any(c.get("type") == "Suspended" and c.get("status") == "True" for c in conds):
                conds = set_condition(conds, "Suspended", "False", "JobResumed", "Job resumed", stamp)
                self.store.record_event(job, "Resumed", "Job resumed", "Normal", COMPONENT)
            if not status.get("startTime"):
                status["startTime"] = stamp
            start = parse_time(status["startTime"]) or now
            deadline = spec.get("activeDeadlineSeconds")
            if completions is not None and succeeded >= int(completions) or completions is None and succeeded > 0 and not live:
                done = "Complete"
                conds = set_condition(conds, "Complete", "True", "Completed", "Job completed", stamp)
                status["completionTime"] = stamp
                self.store.record_event(job, "Completed", "Job completed", "Normal", COMPONENT)
            elif failed + restarts > backoff_limit:
                done = "Failed"
                conds = set_condition(conds, "Failed", "True", "BackoffLimitExceeded", "Job has reached the specified backoff limit", stamp)
                self.store.record_event(job, "BackoffLimitExceeded", "Job has reached the specified backoff limit", "Warning", COMPONENT)
            elif deadline is not None and (now - start).total_seconds() >= float(deadline):
                done = "Failed"
                conds = set_condition(conds, "Failed", "True", "DeadlineExceeded", "Job was active longer than specified deadline", stamp)
                self.store.record_event(job, "DeadlineExceeded", "Job was active longer than specified deadline", "Warning", COMPONENT)
            else:
                if deadline is not None:
                    again = max(0.05, float(deadline) - (now - start).total_seconds())
                want = parallelism if completions is None else min(parallelism, int(completions) - succeeded)
                if completions is None and succeeded > 0:
                    want = 0  # work queue mode: once one succeeded, no new pods
                if len(live) < want:
                    wait = 0.0
                    if failed_pods:
                        last = max((t for t in (_last_finish(p) for p in failed_pods) if t), default=None)
                        if last is not None:
                            wait = self.backoff(failed) - (now - last).total_seconds()
                    if wait > 0:
                        again = wait if again is None else min(again, wait)
                    else:
                        for _ in range(want - len(live)):
                            pod = new_pod(job, spec.get("template") or {}, generate_name=f"{name}-",
                                          labels={"batch.kubernetes.io/controller-uid": meta["uid"], "batch.kubernetes.io/job-name": name,
                                                  "controller-uid": meta["uid"], "job-name": name})
                            created = create_pod(self.store, job, pod, COMPONENT)
                            if created:
                                live.append(created)
                elif len(live) > want:
                    for p in sorted(live, key=lambda p: p["metadata"].get("creationTimestamp", ""), reverse=True)[: len(live) - want]:
                        delete_pod(self.store, job, p, COMPONENT)
                        live.remove(p)
        if done == "Failed":
            for p in live:
                delete_pod(self.store, job, p, COMPONENT)
            live = []
        for c in conds:
            c.setdefault("lastProbeTime", c.get("lastTransitionTime"))
        new_status = {
            "active": len(live),
            "succeeded": succeeded,
            "failed": failed,
            "ready": sum(1 for p in live if pod_ready(p)),
            "startTime": status.get("startTime"),
            "completionTime": status.get("completionTime"),
            "conditions": conds,
        }
        new_status = drop_empty(new_status, keep=("ready",))
        new_status["uncountedTerminatedPods"] = {}
        if (job.get("status") or {}) != new_status:
            self.store.mutate("jobs.batch", ns, name, lambda o: o.update(status=new_status), subresource="status")
        ttl = spec.get("ttlSecondsAfterFinished")
        if done and ttl is not None:
            fin = parse_time(new_status.get("completionTime")) or parse_time(next((c.get("lastTransitionTime") for c in conds if c.get("type") == done), None))
            left = float(ttl) - (now - fin).total_seconds() if fin else 0.0
            if left <= 0:
                try:
                    self.store.delete("jobs.batch", ns, name, propagation="Background")
                except ApiError:
                    pass
                return None
            again = left if again is None else min(again, left)
        return again

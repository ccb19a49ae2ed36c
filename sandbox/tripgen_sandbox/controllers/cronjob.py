"""cronjob-controller (batch/v1, the v2 controller's behaviour): at each scheduled minute of
spec.schedule in spec.timeZone (UTC when unset, like AKS's controller manager) create the Job
<cronjob>-<scheduled unix time / 60> from jobTemplate, owned by the CronJob and annotated with
batch.kubernetes.io/cronjob-scheduled-timestamp. Only the latest missed time runs (as the real
one does), startingDeadlineSeconds drops stale ones, concurrencyPolicy Allow/Forbid/Replace,
suspend, history limits, status active / lastScheduleTime / lastSuccessfulTime. Jobs a user
creates from the CronJob (`kubectl create job --from=cronjob/x`, owned by it) count as active.
The clock is the manager's, so tests can move time; the loop wakes at the next scheduled time."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone

from tripgenctl.cron import Cron, CronError
from tripgen_sandbox.apierrors import ApiError
from tripgen_sandbox.controllers.common import controller_ref, fmt_time, owned, owner_ref, parse_time
from tripgen_sandbox.controllers.job import finished
from tripgen_sandbox.controllers.manager import Controller

COMPONENT = "cronjob-controller"
SCHEDULED = "batch.kubernetes.io/cronjob-scheduled-timestamp"
MAX_WAIT = 60.0  # look again at least once a minute (clock changes, time zone rules)


def job_name(cronjob: str, scheduled: datetime) -> str:
    return f"{cronjob}-{int(scheduled.timestamp() // 60)}"


def _ref(job: dict) -> dict:
    m = job["metadata"]
    return {"apiVersion": "batch/v1", "kind": "Job", "name": m["name"], "namespace": m["namespace"], "uid": m["uid"],
            "resourceVersion": m.get("resourceVersion")}


class CronJobController(Controller):
    name = "cronjobs"
    primary = "cronjobs.batch"
    watches = ("jobs.batch",)

    def keys_for(self, type_, key, obj):
        if key == "jobs.batch":
            ref = controller_ref(obj)
            if ref and ref.get("kind") == "CronJob":
                yield (obj["metadata"]["namespace"], ref["name"])
        else:
            yield from super().keys_for(type_, key, obj)

    def reconcile(self, key) -> float | None:
        cj = self.get(key)
        if cj is None or cj["metadata"].get("deletionTimestamp"):
            return None
        ns, name = key
        meta, spec = cj["metadata"], cj.get("spec") or {}
        status = cj.get("status") or {}
        now = self.now()
        jobs = [j for j in owned(self.store, "jobs.batch", ns, meta["uid"]) if not j["metadata"].get("deletionTimestamp")]
        active = [j for j in jobs if not finished(j)]
        last_success = parse_time(status.get("lastSuccessfulTime"))
        previously_active = {a.get("uid") for a in status.get("active") or []}
        for j in jobs:
            state = finished(j)
            if state and j["metadata"]["uid"] in previously_active:
                self.store.record_event(cj, "SawCompletedJob", f"Saw completed job: {j['metadata']['name']}, status: {state}", "Normal", COMPONENT)
            if state == "Complete":
                t = parse_time((j.get("status") or {}).get("completionTime"))
                if t and (last_success is None or t > last_success):
                    last_success = t
        self._history(cj, jobs)
        new_status: dict = {}
        last_schedule = parse_time(status.get("lastScheduleTime"))
        wait: float | None = MAX_WAIT
        try:
            cron = Cron.parse(spec.get("schedule", ""))
            tz = spec.get("timeZone")
            if tz:
                from zoneinfo import ZoneInfo

                ZoneInfo(tz)
        except (CronError, ValueError, KeyError) as exc:
            reason = "UnknownTimeZone" if isinstance(exc, (KeyError, ValueError)) and not isinstance(exc, CronError) else "UnparseableSchedule"
            self.store.record_event(cj, reason, f"unparseable schedule or time zone: {exc}", "Warning", COMPONENT)
            cron, wait = None, None
        if cron is not None:
            earliest = last_schedule or parse_time(meta.get("creationTimestamp")) or now
            deadline = spec.get("startingDeadlineSeconds")
            if deadline is not None:
                earliest = max(earliest, now - timedelta(seconds=int(deadline)))
            due = cron.scheduled_between(earliest.astimezone(timezone.utc), now, tz) if earliest < now else None
            if due is not None and not spec.get("suspend"):
                active, created = self._run(cj, due, active)
                if created is not False:
                    last_schedule = due.astimezone(timezone.utc)
            nxt = cron.next_after(now, tz)
            wait = min(MAX_WAIT, max(0.05, (nxt - now).total_seconds() + 0.05))
        if active:
            new_status["active"] = [_ref(j) for j in sorted(active, key=lambda j: j["metadata"].get("creationTimestamp", ""))]
        if last_schedule:
            new_status["lastScheduleTime"] = fmt_time(last_schedule)
        if last_success:
            new_status["lastSuccessfulTime"] = fmt_time(last_success)
        if status != new_status:
            self.store.mutate("cronjobs.batch", ns, name, lambda o: o.update(status=new_status), subresource="status")
        return wait

    def _run(self, cj: dict, due: datetime, active: list[dict]) -> tuple[list[dict], bool | None]:
        """Start the Job for `due`. Returns the active jobs and True (created), None (already
        there) or False (skipped: Forbid leaves lastScheduleTime alone, so the missed run starts
        once the active one finishes, if still within startingDeadlineSeconds)."""
        ns, name = cj["metadata"]["namespace"], cj["metadata"]["name"]
        spec = cj["spec"]
        jname = job_name(name, due)
        if self.store.get("jobs.batch", ns, jname) is not None:
            return active, None
        policy = spec.get("concurrencyPolicy", "Allow")
        if active and policy == "Forbid":
            self.store.record_event(cj, "JobAlreadyActive", "Not starting job because prior execution is running and concurrency policy is Forbid",
                                    "Normal", COMPONENT)
            return active, False
        if active and policy == "Replace":
            for j in active:
                try:
                    self.store.delete("jobs.batch", ns, j["metadata"]["name"], propagation="Background")
                    self.store.record_event(cj, "SuccessfulDelete", f"Deleted job {j['metadata']['name']}", "Normal", COMPONENT)
                except ApiError:
                    pass
            active = []
        jt = copy.deepcopy(spec.get("jobTemplate") or {})
        jmeta = jt.get("metadata") or {}
        tz = spec.get("timeZone")
        from zoneinfo import ZoneInfo

        local = due.astimezone(ZoneInfo(tz)) if tz else due.astimezone(timezone.utc)
        stamp = local.isoformat().replace("+00:00", "Z")
        job = {
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": jname, "namespace": ns, "labels": dict(jmeta.get("labels") or {}),
                         "annotations": {**(jmeta.get("annotations") or {}), SCHEDULED: stamp},
                         "ownerReferences": [owner_ref(cj)]},
            "spec": jt.get("spec") or {},
        }
        from tripgen_sandbox.apiserver.defaults import apply_defaults

        apply_defaults("Job", job)
        try:
            created = self.store.create("jobs.batch", job)
        except ApiError as exc:
            if exc.code == 409:
                return active, None
            self.store.record_event(cj, "FailedCreate", f"Error creating job: {exc.message}", "Warning", COMPONENT)
            return active, False
        self.store.record_event(cj, "SuccessfulCreate", f"Created job {jname}", "Normal", COMPONENT)
        return active + [created], True

    def _history(self, cj: dict, jobs: list[dict]) -> None:
        spec = cj["spec"]
        ns = cj["metadata"]["namespace"]
        for state, limit in (("Complete", spec.get("successfulJobsHistoryLimit", 3)), ("Failed", spec.get("failedJobsHistoryLimit", 1))):
            if limit is None:
                continue
            done = sorted((j for j in jobs if finished(j) == state), key=lambda j: j["metadata"].get("creationTimestamp", ""))
            for j in done[: max(0, len(done) - int(limit))]:
                try:
                    self.store.delete("jobs.batch", ns, j["metadata"]["name"], propagation="Background")
                    self.store.record_event(cj, "SuccessfulDelete", f"Deleted job {j['metadata']['name']}", "Normal", COMPONENT)
                except ApiError:
                    pass

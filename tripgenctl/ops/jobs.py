"""Run one Job to its end and say why it ended: replace any previous Job of that name, create it,
wait by watch for Complete or Failed (`kubectl wait` can wait for one condition only), and on
failure or timeout explain it from the pods: the failing container's log tail with its psql
ERROR line, an image that cannot be pulled, a missing Secret, or an initContainer still waiting
for its database."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Callable

from tripgenctl.errors import ToolError
from tripgenctl.kube import jobs as kjobs
from tripgenctl.kube.jobs import Job
from tripgenctl.kube.pods import Pod
from tripgenctl.ops import waiting

# pod states that never resolve on their own: settle the Job as failed instead of waiting out the timeout
FATAL_WAITING = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError", "CreateContainerError")
LOG_TAIL = 30
SLICE = 5.0  # seconds of Job watch between looks at the pods for fatal states
_ERROR_LINE = re.compile(r"(?:psql:(?P<file>[^:\s]+):(?P<line>\d+): )?(?P<level>ERROR|FATAL|PANIC):\s+(?P<msg>.*)")


@dataclass
class JobOutcome:
    job: str
    status: str  # Complete | Failed | Timeout | Skipped | Pending
    seconds: float = 0.0
    reason: str = ""
    pod: str = ""
    container: str = ""
    error_line: str = ""
    log_tail: list[str] = field(default_factory=list)

    __table__ = ("job", "status", "seconds", "reason")

    @property
    def ok(self) -> bool:
        return self.status in ("Complete", "Skipped")


def jobs_path(kube) -> str:
    return Job.collection(kube)


def condition(job: dict, type_: str) -> dict | None:
    return kjobs.condition(job, type_)


def delete_job(kube, name: str, timeout: float = 60) -> bool:
    """Delete a Job and its pods (Background propagation) and wait until the Job is gone, so a
    new one of the same name can be created. False if there was none."""
    if not Job.delete(kube, name):
        return False
    if not waiting.wait_deleted(kube, jobs_path(kube), name, timeout):
        raise ToolError(f"job/{name} from a previous run was not deleted within {timeout:g}s (finalizers?)")
    return True


def create_job(kube, job: dict) -> dict:
    return Job.create(kube, job).raw


def pods_of_job(kube, job: dict) -> list[Pod]:
    return Job.from_json(job).pods(kube)


def fatal_state(pod: Pod | dict) -> tuple[str, str, str] | None:
    """(container, reason, message) of a container stuck in a state that will not fix itself."""
    pod = pod if isinstance(pod, Pod) else Pod.from_json(pod)
    for c in pod.containers:
        if c.state == "waiting" and c.reason in FATAL_WAITING:
            return c.name, c.reason, c.message
    return None


def run_job(kube, job: dict, timeout: float, on_update: Callable[[str], None] | None = None) -> JobOutcome:
    """Replace, create and wait for one Job; never raises for the Job's own failure (that is
    the outcome), only for API problems."""
    name = job["metadata"]["name"]
    started = time.monotonic()
    if delete_job(kube, name) and on_update:
        on_update(f"job/{name}: replaced the Job of a previous run")
    created = create_job(kube, job)
    if on_update:
        on_update(f"job/{name}: created, waiting for Complete or Failed (timeout {timeout:g}s)")
    deadline = started + timeout
    seen: dict = {}

    def check(jobs: dict[str, dict]) -> bool:
        j = jobs.get(name)
        if j is None or j["metadata"].get("uid") != created["metadata"]["uid"]:
            return False
        seen["job"] = j
        if on_update:
            st = j.get("status") or {}
            key = (st.get("active"), st.get("succeeded"), st.get("failed"))
            if seen.get("progress") != key:
                seen["progress"] = key
                on_update(f"job/{name}: active {st.get('active') or 0}, succeeded {st.get('succeeded') or 0}, failed {st.get('failed') or 0}")
        return bool(condition(j, "Complete") or condition(j, "Failed"))

    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        if waiting.watch_list(kube, jobs_path(kube), check, min(SLICE, remaining)):
            break
        for pod in pods_of_job(kube, created):
            fatal = fatal_state(pod)
            if fatal:
                container, reason, message = fatal
                outcome = JobOutcome(name, "Failed", round(time.monotonic() - started, 1), f"pod {pod.name}: {container}: {reason}" + (f": {message}" if message else ""),
                                     pod.name, container)
                return outcome
    current = seen.get("job") or created
    elapsed = round(time.monotonic() - started, 1)
    if condition(current, "Complete"):
        return JobOutcome(name, "Complete", elapsed)
    failed = condition(current, "Failed")
    if failed:
        outcome = JobOutcome(name, "Failed", elapsed, f"{failed.get('reason') or 'Failed'}: {failed.get('message') or ''}".rstrip(": "))
        explain_failure(kube, current, outcome)
        return outcome
    outcome = JobOutcome(name, "Timeout", elapsed, f"not finished after {timeout:g}s")
    explain_timeout(kube, current, outcome)
    return outcome


def explain_failure(kube, job: dict, outcome: JobOutcome) -> None:
    """The last failed pod: which container, its exit code, its log tail and its error line."""
    pods = pods_of_job(kube, job)
    failed = [p for p in pods if p.phase == "Failed"] or pods
    if not failed:
        return
    pod = failed[-1]
    outcome.pod = pod.name
    for c in pod.containers:
        if c.state == "terminated" and (c.exit_code or 0) != 0:
            outcome.container = c.name
            detail = f"container {c.name} exited {c.exit_code}" + (f" ({c.reason})" if c.reason not in ("", "Error") else "")
            outcome.reason = f"{outcome.reason}; {detail}" if outcome.reason else detail
            break
    if not outcome.container:
        outcome.container = (pod.spec_containers or [""])[0]
    outcome.log_tail = log_tail(kube, pod, outcome.container)
    outcome.error_line = error_line(outcome.log_tail)
    if outcome.error_line:
        outcome.reason = f"{outcome.reason}: {outcome.error_line}"


def explain_timeout(kube, job: dict, outcome: JobOutcome) -> None:
    """Where the newest pod stands: still in its initContainer (waiting for PostgreSQL), pending
    scheduling, or running; with the log of whatever container is current."""
    pods = pods_of_job(kube, job)
    if not pods:
        outcome.reason += ": no pod was created"
        return
    pod = pods[-1]
    outcome.pod = pod.name
    for c in (c for c in pod.containers if c.init):
        if c.state != "terminated" or (c.exit_code or 0) != 0:
            outcome.container = c.name
            outcome.reason += f": pod {outcome.pod} is still in initContainer {outcome.container}"
            if "postgres" in outcome.container:
                outcome.reason += " (PostgreSQL is not reachable: is it scaled to 0? try `tripgenctl up`)"
            break
    else:
        outcome.container = (pod.spec_containers or [""])[0]
        outcome.reason += f": pod {outcome.pod} is {pod.phase}"
    if pod.phase != "Pending" or outcome.container:
        outcome.log_tail = log_tail(kube, pod, outcome.container)


def log_tail(kube, pod: Pod | str, container: str, lines: int = LOG_TAIL) -> list[str]:
    """The last `lines` non-blank lines of a container's log; [] when it cannot be read."""
    try:
        pod = pod if isinstance(pod, Pod) else Pod.get(kube, pod)
        text = pod.logs(container or None, tail_lines=lines)
    except ToolError:
        return []
    return [l for l in (text or "").splitlines() if l.strip()]


def error_line(lines: list[str]) -> str:
    """The first ERROR/FATAL line with psql's file:line prefix kept but the file shortened to its
    name (the sandbox mounts /scripts elsewhere)."""
    for line in lines:
        m = _ERROR_LINE.search(line)
        if m:
            where = f"{m['file'].rsplit('/', 1)[-1]}:{m['line']}: " if m["file"] else ""
            return f"{where}{m['level']}: {m['msg'].strip()}"
    return ""

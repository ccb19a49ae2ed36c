"""What `cluster start` (and `up --cluster`) checks once Azure says the cluster runs: the API
server answering is not the end of a start. Nodes come back one by one (a node that answers
NotReady runs nothing), and workloads can come back broken (crash-looping after the restart,
ingress-nginx #7553), so the start waits for every node to be Ready, with a deadline that says
which nodes it waited for, and then runs doctor's checks in the namespace and reports their
summary: a critical finding makes the command exit 1.

Everything goes through the Kubernetes door (kube/); the doctor is ops/doctor."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from tripgenctl.kube import resources
from tripgenctl.errors import ToolError


@dataclass
class StartFinding:
    """A doctor finding that is not ok, as the start's result lists it."""

    __table__ = ("severity", "check", "object", "title", "command")
    severity: str
    check: str
    object: str
    title: str
    command: str = ""


@dataclass
class Checks:
    summary: str  # one line: "doctor in tripgen-dev: healthy" / "1 critical, 2 warning(s)" / "not run: ..."
    critical: Optional[int] = None  # None: the checks did not run
    warnings: Optional[int] = None
    findings: list[StartFinding] = field(default_factory=list)


class NodesNotReady(ToolError):
    """The deadline passed with nodes still not Ready (exit 1: the cluster runs, but not whole)."""


def _ready(node: dict) -> tuple[bool, str]:
    for c in (node.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            why = c.get("reason") or ""
            return c.get("status") == "True", f"Ready={c.get('status')}" + (f" ({why})" if why else "")
    return False, "no Ready condition yet"


def wait_for_nodes(kube, timeout: float, on_wait: Callable[[str], None] | None = None) -> str:
    """Poll the node list until there is at least one node and every node is Ready; returns
    "ready/total". On the deadline: NodesNotReady naming each node that was not Ready and why
    (an empty list after a start is "no node registered yet", not success)."""
    deadline = time.monotonic() + timeout
    delay = 0.2
    waiting = "no node has registered yet"
    last_said = None
    while True:
        nodes = resources.items(kube, "v1", "Node")
        states = [(n["metadata"]["name"], *_ready(n)) for n in nodes]
        not_ready = [f"{name} {why}" for name, ok, why in states if not ok]
        if states and not not_ready:
            return f"{len(states)}/{len(states)}"
        if states:
            waiting = f"{len(states) - len(not_ready)} of {len(states)} nodes Ready; not Ready: {', '.join(not_ready)}"
        if on_wait and waiting != last_said:
            on_wait(f"waiting for the nodes: {waiting}")
            last_said = waiting
        if time.monotonic() + delay > deadline:
            raise NodesNotReady(f"the nodes were not all Ready within {timeout:g} s of the start ({waiting}); "
                                "the cluster runs, but workloads on those nodes do not (kubectl get nodes; --nodes-timeout)", 1)
        time.sleep(delay)
        delay = min(delay * 2, 3.0)


def run_checks(kube, config) -> Checks:
    """doctor over the namespace (`config` is the ToolConfig: thresholds, workload names). A
    namespace that does not exist has no environment to check: reported, not a failure."""
    from tripgenctl.ops.doctor import run_doctor

    if resources.get(kube, "v1", "Namespace", kube.namespace) is None:
        return Checks(f"not run: namespace {kube.namespace} does not exist in context {kube.context_name} (no environment to check)")
    report = run_doctor(kube, config)
    findings = [StartFinding(f.severity, f.check, f.object, f.title, f.command) for f in report.findings if f.severity != "ok"]
    if report.healthy and not report.warnings:
        verdict = "healthy"
    else:
        verdict = f"{report.critical} critical, {report.warnings} warning(s)"
        if report.could_not_run:
            verdict += f", could not run: {', '.join(report.could_not_run)}"
    summary = f"doctor in {report.context}/{report.namespace}: {verdict} ({len(report.checks_run)} checks; tripgenctl doctor for details)"
    return Checks(summary, report.critical, report.warnings, findings)


def attach(result, checks: Checks) -> None:
    """Put the checks' summary into a ClusterActionResult (ops/cluster.py)."""
    result.checks, result.critical, result.warnings, result.findings = checks.summary, checks.critical, checks.warnings, checks.findings
    result.message += f"; {checks.summary}"

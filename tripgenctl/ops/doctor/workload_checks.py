"""Pod-level rows of the troubleshooting table: Pending, image pulls, crash loops, OOMKilled."""

from __future__ import annotations

from tripgenctl import quantity
from tripgenctl.ops.doctor.knowledge import texts
from tripgenctl.ops.doctor.model import Finding
from tripgenctl.ops.doctor.snapshot import Snapshot
from tripgenctl.timestamps import minutes_since


def _statuses(pod: dict) -> list[dict]:
    st = pod.get("status", {})
    return (st.get("initContainerStatuses") or []) + (st.get("containerStatuses") or [])


def _pod_requests(pod: dict) -> tuple[float, float]:
    cpu = mem = 0.0
    for c in pod.get("spec", {}).get("containers") or []:
        res = c.get("resources") or {}
        req = res.get("requests") or res.get("limits") or {}
        cpu += quantity.cpu_millis(req.get("cpu"))
        mem += quantity.parse(req.get("memory"))
    return cpu, mem


def check_pending(snap: Snapshot, cfg, ctx) -> list[Finding]:
    out = []
    used: dict[str, list[float]] = {}
    for p in snap.pods:
        node = p.get("spec", {}).get("nodeName")
        if node and p.get("status", {}).get("phase") in ("Running", "Pending"):
            c, m = _pod_requests(p)
            u = used.setdefault(node, [0.0, 0.0])
            u[0] += c
            u[1] += m
    for p in snap.pods:
        if p.get("status", {}).get("phase") != "Pending" or p.get("spec", {}).get("nodeName"):
            continue
        name = p["metadata"]["name"]
        events = [e for e in snap.events_for("Pod", name) if e.get("reason") == "FailedScheduling"]
        cond = next((c for c in p.get("status", {}).get("conditions") or [] if c.get("type") == "PodScheduled"), {})
        reason = (events[-1]["message"] if events else cond.get("message")) or "not scheduled yet"
        cpu, mem = _pod_requests(p)
        nodes = "; ".join(
            f"{n['metadata']['name']} allocatable {quantity.fmt_cpu(quantity.cpu_millis(n['status']['allocatable'].get('cpu')))} CPU / "
            f"{quantity.fmt_bytes(quantity.parse(n['status']['allocatable'].get('memory')))}, requested "
            f"{quantity.fmt_cpu(used.get(n['metadata']['name'], [0, 0])[0])} / {quantity.fmt_bytes(used.get(n['metadata']['name'], [0, 0])[1])}"
            for n in snap.nodes
        )
        out.append(Finding(
            "pending", "critical", f"pod/{name}", "Pod is Pending: it fits on no node",
            evidence=f"{reason} | pod requests {quantity.fmt_cpu(cpu)} CPU / {quantity.fmt_bytes(mem)}; {nodes}",
            command=f"kubectl describe pod {name} -n {snap.namespace}   # lower the requests, or add a node",
            **texts("pending"),
        ))
    return out


PULL_REASONS = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull")


def check_images(snap: Snapshot, cfg, ctx) -> list[Finding]:
    out = []
    for p in snap.pods:
        name = p["metadata"]["name"]
        for cs in _statuses(p):
            waiting = (cs.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") not in PULL_REASONS:
                continue
            image = cs.get("image", "?")
            failed = [e["message"] for e in snap.events_for("Pod", name) if e.get("reason") in ("Failed", "ErrImagePull") and image in e.get("message", "")]
            message = (failed[-1] if failed else waiting.get("message")) or waiting["reason"]
            low = message.lower()
            if "unauthorized" in low or "authentication" in low or "denied" in low:
                likely = "registry authentication: check the ACR attachment (az aks check-acr) or the imagePullSecret"
            elif "not found" in low or "manifest unknown" in low:
                likely = "the image tag does not exist in the registry: verify the tag"
            elif "azurecr.io" in image and not p.get("spec", {}).get("imagePullSecrets"):
                likely = "ACR access (no imagePullSecret on the pod; the cluster must be attached to the ACR)"
            else:
                likely = "the registry could not be reached or refused the pull"
            out.append(Finding(
                "image", "critical", f"pod/{name}", f"{waiting['reason']}: {image}",
                evidence=f"{message} | likely cause: {likely}",
                command=f"kubectl describe pod {name} -n {snap.namespace}   # then fix the tag or ACR access and redeploy",
                **texts("image"),
            ))
    return out


RECENT_MINUTES = 10.0


def check_crashloop(snap: Snapshot, cfg, ctx) -> list[Finding]:
    out = []
    threshold = cfg.thresholds.restarts
    for p in snap.pods:
        name = p["metadata"]["name"]
        for cs in _statuses(p):
            restarts = cs.get("restartCount", 0)
            waiting = (cs.get("state") or {}).get("waiting") or {}
            looping = waiting.get("reason") == "CrashLoopBackOff"
            last = (cs.get("lastState") or {}).get("terminated") or {}
            # Below the alert a crash loop is caught between back-offs as often as in one: a
            # recent failed exit counts as looping too (an old restart is history, not a loop).
            recent_failure = bool(restarts) and last.get("exitCode", 0) != 0 and minutes_since(last.get("finishedAt"), ctx.now) <= RECENT_MINUTES
            if restarts < threshold and not (looping or recent_failure):
                continue
            if last.get("reason") == "OOMKilled":
                continue  # the OOM check reports it with the limit
            severity = "critical" if restarts >= threshold else "warning"
            tail = ctx.previous_log_tail(name, cs["name"])
            out.append(Finding(
                "crashloop", severity, f"pod/{name}",
                f"container {cs['name']} restarted {restarts} times" + (" (CrashLoopBackOff)" if looping else ""),
                evidence=f"last exit: {last.get('reason', '?')} (exit code {last.get('exitCode', '?')}); threshold {threshold}"
                + (f" | previous log: {tail}" if tail else ""),
                command=f"kubectl logs {name} -c {cs['name']} -n {snap.namespace} --previous --tail=50",
                **texts("crashloop"),
            ))
    return out


def check_oom(snap: Snapshot, cfg, ctx) -> list[Finding]:
    out = []
    usage = {(m["metadata"]["name"], c["name"]): c["usage"].get("memory") for m in snap.pod_metrics or [] for c in m.get("containers") or []}
    for p in snap.pods:
        name = p["metadata"]["name"]
        limits = {c["name"]: ((c.get("resources") or {}).get("limits") or {}).get("memory") for c in p.get("spec", {}).get("containers") or []}
        for cs in _statuses(p):
            st = cs.get("state") or {}
            last = cs.get("lastState") or {}
            term = st.get("terminated") if (st.get("terminated") or {}).get("reason") == "OOMKilled" else last.get("terminated")
            if not term or term.get("reason") != "OOMKilled":
                continue
            used = usage.get((name, cs["name"]))
            out.append(Finding(
                "oom", "critical", f"pod/{name}", f"container {cs['name']} was OOMKilled",
                evidence=f"memory limit {limits.get(cs['name']) or 'none'}; usage now {quantity.fmt_bytes(quantity.parse(used)) if used else 'unknown'}; "
                f"exit code {term.get('exitCode', 137)} at {term.get('finishedAt', '?')}; restarts {cs.get('restartCount', 0)}",
                command=f"kubectl top pod {name} -n {snap.namespace}   # then raise resources.limits.memory in the manifest and tripgenctl deploy",
                **texts("oom"),
            ))
    return out

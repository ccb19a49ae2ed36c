"""Runs the checks over one snapshot; independent live probes run concurrently."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from tripgenctl.errors import ToolError, UsageError
from tripgenctl.kube import resources
from tripgenctl.ops.doctor import backup_checks, bus_checks, environment_checks, infra_checks, service_checks, snapshot, workload_checks
from tripgenctl.ops.doctor.model import DoctorReport, Finding

Check = Callable[..., list[Finding]]

# name -> function(snapshot, config, context). Order = report order. Other modules may add
# entries (the Azure Service Bus check registers itself here when its module is imported).
CHECKS: dict[str, Check] = {
    "pending": workload_checks.check_pending,
    "image": workload_checks.check_images,
    "crashloop": workload_checks.check_crashloop,
    "oom": workload_checks.check_oom,
    "node": infra_checks.check_nodes,
    "memory": infra_checks.check_memory,
    "disk": infra_checks.check_disk,
    "database": service_checks.check_database,
    "apps": service_checks.check_apps,
    "secrets": service_checks.check_secrets,
    "servicebus": bus_checks.check,  # the Secret's shape, then Azure itself (ops/bus.py)
    "netpol": service_checks.check_netpol,
    "copies": environment_checks.check_copies,  # developers' copies past their expiry
    "backup": backup_checks.check_backups,  # the newest verified backup: too old, or none at all
}
LAST = "events"  # runs after the others: Warning events no finding explains
# the [thresholds] keys each check compares against: a value that is not a number means the
# check cannot answer its question, which is a finding of its own (never a silent "ok")
THRESHOLDS = {"crashloop": ("restarts",), "node": ("node_notready_minutes",), "memory": ("memory_percent",), "disk": ("disk_percent",)}
COULD_NOT_RUN = "check could not run: "


@dataclass
class Context:
    """Live probes the checks may call (each one exec or one proxied GET)."""

    kube: object
    now: datetime

    def previous_log_tail(self, pod: str, container: str, lines: int = 5) -> str:
        body = resources.log_tail(self.kube, pod, container, lines, previous=True)
        if body is None:
            return ""
        return " / ".join(l.strip() for l in body.strip().splitlines()[-lines:])[:400]

    def probe_database(self) -> tuple[bool, str]:
        from tripgenctl.ops import postgres

        try:
            creds = postgres.credentials(self.kube)
            rows = postgres.psql(self.kube, "SELECT 1", creds.database)
            return rows == [["1"]], f"SELECT 1 returned {rows}"
        except ToolError as exc:
            return False, exc.message

    def probe_redis(self) -> tuple[bool, str]:
        from tripgenctl.ops import cache

        try:
            reply = cache.redis_cli(self.kube, "PING")
            return reply == "PONG", f"PING -> {reply[:60]}"
        except ToolError as exc:
            return False, exc.message

    def app_health(self, via: str) -> resources.ProxyAnswer:
        """`via` is services/<name>:<port> or pods/<name>:<port> (the API server's proxy)."""
        return resources.proxy_get(self.kube, via, service_checks.HEALTH)


def run_doctor(kube, config, only: list[str] | None = None, skip: list[str] | None = None, now: datetime | None = None) -> DoctorReport:
    names = list(CHECKS) + [LAST]
    for n in (only or []) + (skip or []):
        if n not in names:
            raise UsageError(f"unknown check {n!r}; checks: {', '.join(names)}")
    selected = [n for n in names if (not only or n in only) and n not in (skip or [])]
    calls_before = len(kube.calls)
    snap = snapshot.take(kube)
    ctx = Context(kube=kube, now=now or datetime.now(timezone.utc))
    results: dict[str, list[Finding]] = {}
    runnable = []
    for n in selected:
        bad = _bad_threshold(config, n)
        if bad is not None:
            results[n] = [bad]
        elif n != LAST:
            runnable.append(n)
    with ThreadPoolExecutor(max_workers=6) as pool:
        futures = {n: pool.submit(CHECKS[n], snap, config, ctx) for n in runnable}
        for n, fut in futures.items():
            try:
                results[n] = fut.result()
            except ToolError as exc:
                results[n] = [Finding(n, "warning", "doctor", COULD_NOT_RUN + exc.message)]
            except Exception as exc:  # noqa: BLE001 - one broken check must not hide the others' findings
                results[n] = [Finding(n, "warning", "doctor", f"{COULD_NOT_RUN}internal error: {exc}"[:300], evidence=type(exc).__name__)]
    findings = [f for n in selected if n != LAST for f in results[n]]
    if LAST in selected:
        explained = {f.object for f in findings if f.severity != "ok"}
        findings += service_checks.check_events(snap, config, ctx, explained)
    problems = {f.check for f in findings}
    for n in selected:
        if n not in problems and not any(f.check == n for f in findings):
            findings.append(Finding(n, "ok", "-", "no problem found"))
    order = {"critical": 0, "warning": 1, "ok": 2}
    findings.sort(key=lambda f: (order[f.severity], names.index(f.check) if f.check in names else 99))
    critical = sum(f.severity == "critical" for f in findings)
    warnings = sum(f.severity == "warning" for f in findings)
    could_not_run = [n for n in selected if any(f.check == n and f.title.startswith(COULD_NOT_RUN) for f in findings)]
    return DoctorReport(
        context=kube.context_name, namespace=kube.namespace, healthy=critical == 0 and not could_not_run, critical=critical, warnings=warnings,
        checks_run=selected, findings=findings, api_calls=len(kube.calls) - calls_before, could_not_run=could_not_run,
    )


def _bad_threshold(config, check: str) -> Finding | None:
    """A could-not-run finding when a threshold this check uses is not a usable number: not a
    number at all, NaN or infinite (every comparison would be false: never an alert), negative,
    or a percentage outside 0-100."""
    import math

    for key in THRESHOLDS.get(check, ()):
        value = getattr(config.thresholds, key, None)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problem = "must be a number"
        elif not math.isfinite(value) or value < 0:
            problem = "must be a finite number >= 0"
        elif key.endswith("_percent") and not 0 < value <= 100:
            problem = "must be a percentage (0-100]"
        else:
            continue
        where = f" in {config.source}" if getattr(config, "source", None) else ""
        return Finding(check, "warning", "config", f"{COULD_NOT_RUN}[thresholds] {key} {problem}, got {value!r}",
                       evidence=f"[thresholds] {key} = {value!r}{where}",
                       fix=f"set [thresholds] {key} to a number (default {getattr(type(config.thresholds)(), key)!r})")
    return None

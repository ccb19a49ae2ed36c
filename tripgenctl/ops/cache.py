"""Flushing the environment's Redis through redis-cli inside redis-0; the password travels in
the container's environment (REDISCLI_AUTH), never on a command line or in our output. Every
redis-cli call has a deadline ([timeouts] redis): a frozen or stuck Redis gives one line saying
which command went unanswered and whether anything was flushed, never a library exception."""

from __future__ import annotations

from dataclasses import dataclass

from tripgenctl.errors import ToolError
from tripgenctl.kube import execstream
from tripgenctl.kube.pods import Pod



def pod_name(kube) -> str:
    """redis-0, or <configured StatefulSet>-0 (the run's config, carried by the connection)."""
    return kube.config.workloads.redis_pod

# redis-cli reads REDISCLI_AUTH; the official chart/image keep the password in REDIS_PASSWORD.
PRELUDE = 'if [ -n "${REDIS_PASSWORD:-}" ]; then export REDISCLI_AUTH="$REDIS_PASSWORD"; fi; '


@dataclass
class FlushResult:
    command: str
    keys_before: int
    keys_after: int
    dry_run: bool = False


def redis_timeout(kube) -> float:
    return kube.config.timeouts.redis


def redis_cli(kube, *args: str, after: str = "nothing was flushed") -> str:
    """One redis-cli command in the pod. `after` says, in a timeout message, what state
    the data is in when no answer came."""
    seconds = redis_timeout(kube)
    shown = " ".join(a for a in args if not a.isdigit() and a != "-n")
    try:
        res = execstream.run(kube, pod_name(kube), ["sh", "-c", PRELUDE + 'exec redis-cli --no-auth-warning "$@"', "sh", *args],
                             timeout=seconds, what=f"redis-cli {shown} in pod {pod_name(kube)}")
    except execstream.ExecTimeout as exc:
        raise ToolError(f"redis in pod {pod_name(kube)} did not answer {shown} within {seconds:g}s ({exc.phase} deadline; "
                        f"is it frozen or overloaded?): {after}") from None
    out = res.stdout.decode(errors="replace").strip()
    err = res.stderr_text().strip()
    if not res.ok:
        raise ToolError(f"redis-cli in {pod_name(kube)} failed: {err or out or res.failure_message}")
    if out.startswith("ERR") or out.startswith("NOAUTH") or out.startswith("WRONGPASS") or "(error)" in out:
        raise ToolError(_explain(out))
    return out


def _explain(reply: str) -> str:
    if "unknown command" in reply.lower():
        return f"redis refused the command ({reply}): FLUSHALL/FLUSHDB is renamed or disabled on this server (rename-command); flush it another way"
    if "NOAUTH" in reply or "WRONGPASS" in reply:
        return f"redis rejected the password from the container environment ({reply.split()[0]}); check redis-secret"
    return f"redis answered an error: {reply}"


def dbsize(kube, db: int | None = None, after: str = "nothing was flushed") -> int:
    args = (["-n", str(db)] if db is not None else []) + ["DBSIZE"]
    out = redis_cli(kube, *args, after=after)
    try:
        return int(out.split()[-1])
    except (ValueError, IndexError):
        raise ToolError(f"unexpected DBSIZE reply: {out[:80]}") from None


def total_keys(kube, after: str = "nothing was flushed") -> int:
    """Keys over all databases (FLUSHALL empties them all)."""
    info = redis_cli(kube, "INFO", "keyspace", after=after)
    total = 0
    for line in info.splitlines():
        if line.startswith("db") and "keys=" in line:
            total += int(line.split("keys=")[1].split(",")[0])
    return total


def require_pod(kube) -> None:
    pod = pod_name(kube)
    p = Pod.get(kube, pod)
    if p.phase != "Running":
        raise ToolError(f"pod {pod} is not running (phase {p.phase}); try: tripgenctl up --include-data")


def flush(kube, gate, db: int | None = None, asynchronous: bool = False) -> FlushResult | None:
    """Through the safety contract (ops/safety.py): guard, plan (the key count), --dry-run,
    question, FLUSHALL/FLUSHDB, trail. None for a dry run (the gate showed the plan). No safety
    backup: Redis holds the cache, which the apps rebuild; nothing in it is the data of record."""
    from tripgenctl.ops.safety import Change, Plan

    gate.guard(kube, "cache flush")
    require_pod(kube)
    before = dbsize(kube, db) if db is not None else total_keys(kube)
    command = (["-n", str(db), "FLUSHDB"] if db is not None else ["FLUSHALL"]) + (["ASYNC"] if asynchronous else [])
    shown = " ".join(c for c in command if c != "-n" and not c.isdigit()) + (f" (db {db})" if db is not None else "")
    plan = Plan("cache flush", kube.context_name, kube.namespace,
                [Change(f"Redis {pod_name(kube)}" + (f" db {db}" if db is not None else " (all databases)"), f"{shown}: {before} keys will be deleted")],
                destructive=True)

    def work(_backup: str | None) -> FlushResult:
        reply = redis_cli(kube, *command, after=f"{shown} was sent, so whether the keys are gone is unknown: check DBSIZE before retrying")
        if reply.strip() != "OK":
            raise ToolError(_explain(reply))
        done = f"{shown} answered OK; only the count of keys left is missing"
        after = dbsize(kube, db, after=done) if db is not None else total_keys(kube, after=done)
        return FlushResult(shown, before, after)

    return gate.perform(kube, plan, work, outcome=lambda r: (True, f"{r.command}: {r.keys_before} -> {r.keys_after} keys"))

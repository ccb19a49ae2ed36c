"""Stopping and starting the AKS cluster itself (nights, weekends): the nodes are most of the
bill, and `az aks stop/start` has no pre-check, takes minutes and may hand back a new API
server address. These functions add the pre-checks, the waiting, the fresh credentials and
the "does the API answer" check; `down --cluster` / `up --cluster` call them too.

All Azure access goes through tripgenctl.azure (the door)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from tripgenctl.config import AzureConfig
from tripgenctl.errors import ToolError, UsageError

# operations in progress, as provisioningState reports them
BUSY_STATES = {"Starting", "Stopping", "Updating", "Upgrading", "Creating", "Deleting", "Scaling", "Migrating", "Canceling"}


@dataclass
class NodePoolRow:
    name: str
    count: Optional[int]
    vm_size: Optional[str]
    spot: bool
    mode: Optional[str]
    power_state: Optional[str]


@dataclass
class ClusterStatus:
    __sections__ = ("node_pools",)
    cluster: str
    resource_group: str
    subscription: str
    location: Optional[str]
    power_state: str
    provisioning_state: str
    kubernetes_version: Optional[str]
    api_server: Optional[str]
    node_pools: list[NodePoolRow] = field(default_factory=list)
    last_power_change: Optional[str] = None  # ARM systemData.lastModifiedAt, UTC


@dataclass
class CredentialsResult:
    cluster: str
    file: str
    context: str
    server: Optional[str]
    message: str = ""
    replaced: list[str] = field(default_factory=list)  # entry names that already existed and were replaced
    kept_contexts: list[str] = field(default_factory=list)  # other contexts left in the file


@dataclass
class ClusterActionResult:
    __sections__ = ()
    action: str  # stop | start
    cluster: str
    outcome: str  # stopped | started | already stopped | already started | accepted
    power_state: str
    provisioning_state: str
    elapsed_seconds: float
    message: str
    kubeconfig: Optional[str] = None  # start: where fresh credentials were merged
    context: Optional[str] = None
    api_server: Optional[str] = None
    api_version: Optional[str] = None  # what the API server answered after a start


@dataclass
class Progress:
    action: str
    elapsed: float
    status: str  # the ARM operation's status (InProgress ...) or a phase name


def resolve_target(subscription: str | None = None, resource_group: str | None = None, cluster_name: str | None = None, *, config):
    """Options win, then the run's config ([azure] section, whose defaults are the SPEC's
    rg-tripgen-dev / aks-tripgen-dev; AZURE_SUBSCRIPTION_ID already applied over its
    subscription when the CLI built it)."""
    from tripgenctl.azure.aks import AksTarget

    az = config.azure
    sub = subscription or az.subscription
    if not sub:
        raise UsageError("no Azure subscription: pass --subscription, set AZURE_SUBSCRIPTION_ID, or set azure.subscription in the config")
    return AksTarget(subscription=sub, resource_group=resource_group or az.resource_group, cluster_name=cluster_name or az.cluster_name)


def _door(target, poll_interval: float | None = None):
    from tripgenctl.azure.aks import Aks

    interval = poll_interval if poll_interval is not None else AzureConfig.poll_interval  # callers pass config azure.poll_interval
    return Aks(target, poll_interval=interval)


def _status_of(target, info) -> ClusterStatus:
    return ClusterStatus(
        cluster=info.name, resource_group=target.resource_group, subscription=target.subscription, location=info.location,
        power_state=info.power_state, provisioning_state=info.provisioning_state, kubernetes_version=info.kubernetes_version,
        api_server=info.fqdn,
        node_pools=[NodePoolRow(p.name, p.count, p.vm_size, p.spot, p.mode, p.power_state) for p in info.node_pools],
        last_power_change=_utc(info.last_modified),
    )


def _utc(when) -> Optional[str]:
    if when is None:
        return None
    from datetime import timezone

    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def cooldown_refusal(status: ClusterStatus, minutes: float, now=None) -> Optional[str]:
    """Why a stop must wait (with the time it becomes allowed), or None. AKS asks for 15-30
    minutes between power operations; the last one is the resource's lastModifiedAt."""
    from datetime import datetime, timedelta, timezone

    if not status.last_power_change or minutes <= 0:
        return None
    last = datetime.strptime(status.last_power_change, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    allowed = last + timedelta(minutes=minutes)
    now = now or datetime.now(timezone.utc)
    if now >= allowed:
        return None
    return (f"cannot stop {status.cluster}: its last power operation was at {status.last_power_change}, within the "
            f"{minutes:g}-minute cool-down between power operations; allowed from {allowed.strftime('%Y-%m-%dT%H:%M:%SZ')} "
            f"(in {int((allowed - now).total_seconds() // 60) + 1} min; [azure] power_cooldown_minutes)")


def cluster_status(target) -> ClusterStatus:
    aks = _door(target)
    try:
        return _status_of(target, aks.get())
    finally:
        aks.close()


def _precheck(status: ClusterStatus, action: str) -> str | None:
    """None when the action may proceed; else the reason it must not (raises) or 'already'."""
    if status.provisioning_state in BUSY_STATES:
        raise OperationRefused(f"cannot {action} {status.cluster}: an operation is in progress (provisioning state {status.provisioning_state}); "
                               "wait for it to finish (tripgenctl cluster status)")
    if status.provisioning_state == "Failed" and action == "start" and status.power_state != "Running":
        return None  # retrying a failed start is Azure's own remedy
    if status.provisioning_state != "Succeeded":
        raise OperationRefused(f"cannot {action} {status.cluster}: provisioning state is {status.provisioning_state}, not Succeeded; "
                               "fix the cluster in the portal or with az aks first")
    target = "Stopped" if action == "stop" else "Running"
    if status.power_state == target:
        return "already"
    return None


class OperationRefused(ToolError):
    """A pre-check failed (another operation running, cluster not in a good state)."""


def _run(aks, target, action: str, wait: bool, on_progress: Callable[[Progress], None] | None, timeout: float) -> tuple[str, float]:
    started = time.monotonic()
    op = aks.begin(action)
    if not wait:
        return "accepted", round(time.monotonic() - started, 1)
    deadline = started + timeout
    while not op.done():
        if on_progress:
            on_progress(Progress(action, round(time.monotonic() - started, 1), op.status()))
        if time.monotonic() > deadline:
            raise ToolError(f"{action} of {target.cluster_name} still running after {int(timeout)} s; it continues in Azure (tripgenctl cluster status)")
        op.wait(1.0)
    op.result()
    if on_progress:
        on_progress(Progress(action, round(time.monotonic() - started, 1), op.status()))
    return ("stopped" if action == "stop" else "started"), round(time.monotonic() - started, 1)


def cluster_stop(target, confirm: Callable[[str], None] | None = None, wait: bool = True,
                 on_progress: Callable[[Progress], None] | None = None, timeout: float = 1800, poll_interval: float | None = None,
                 cooldown: float | None = None) -> ClusterActionResult:
    """Pre-check (an operation running, the cool-down after the last start/stop), confirm (the caller's confirm(question) raises when not confirmed), stop."""
    aks = _door(target, poll_interval)
    try:
        status = _status_of(target, aks.get())
        if _precheck(status, "stop") == "already":
            return ClusterActionResult("stop", status.cluster, "already stopped", status.power_state, status.provisioning_state, 0.0,
                                       f"{status.cluster} is already stopped; nothing to do")
        if cooldown is None:  # callers pass config azure.power_cooldown_minutes
            cooldown = AzureConfig.power_cooldown_minutes
        refusal = cooldown_refusal(status, cooldown)
        if refusal:
            raise OperationRefused(refusal)
        if confirm is not None:
            confirm(f"Stop AKS cluster {status.cluster} (resource group {target.resource_group})? Every node and the API server go down")
        outcome, elapsed = _run(aks, target, "stop", wait, on_progress, timeout)
        after = _status_of(target, aks.get())
    finally:
        aks.close()
    message = (f"stop of {after.cluster} accepted; it continues in Azure (tripgenctl cluster status)" if outcome == "accepted"
               else f"{after.cluster} stopped in {elapsed:.0f} s")
    return ClusterActionResult("stop", after.cluster, outcome, after.power_state, after.provisioning_state, elapsed, message)


def cluster_start(target, wait: bool = True, on_progress: Callable[[Progress], None] | None = None, timeout: float = 1800,
                  kubeconfig_file: str | None = None, verify_api: bool = True, api_timeout: float = 300,
                  poll_interval: float | None = None) -> ClusterActionResult:
    """Pre-check, start, then (when waiting) merge fresh credentials — the API server address
    may have changed — and wait until the API server answers."""
    if wait:
        credentials_path(kubeconfig_file)
    aks = _door(target, poll_interval)
    try:
        status = _status_of(target, aks.get())
        already = _precheck(status, "start") == "already"
        if already:
            outcome, elapsed = "already started", 0.0
        else:
            outcome, elapsed = _run(aks, target, "start", wait, on_progress, timeout)
        after = _status_of(target, aks.get())
        if outcome == "accepted":
            return ClusterActionResult("start", after.cluster, outcome, after.power_state, after.provisioning_state, elapsed,
                                       f"start of {after.cluster} accepted; it continues in Azure (tripgenctl cluster status)")
        started = time.monotonic()
        creds = _merge_credentials(aks, target, kubeconfig_file)
    finally:
        aks.close()
    version = None
    if verify_api:
        if on_progress:
            on_progress(Progress("start", elapsed, "waiting for the API server"))
        version = wait_for_api(creds.file, creds.context, api_timeout)
    elapsed = round(elapsed + time.monotonic() - started, 1)
    message = (f"{after.cluster} is already running; credentials refreshed" if already
               else f"{after.cluster} started in {elapsed:.0f} s; credentials refreshed")
    if version:
        message += f"; API server answers ({version})"
    return ClusterActionResult("start", after.cluster, outcome, after.power_state, after.provisioning_state, elapsed, message,
                               kubeconfig=creds.file, context=creds.context, api_server=creds.server, api_version=version)


def wait_for_api(kubeconfig_file: str, context: str, timeout: float) -> str:
    """Poll /version until it answers: right after a start the control plane may still refuse
    connections for a while, and there is nothing to watch before it answers."""
    from tripgenctl.errors import ConnectionFailed
    from tripgenctl.kube.client import DEFAULT_REQUEST_TIMEOUT, connect
    from tripgenctl.kube.errors import Timeout

    deadline = time.monotonic() + timeout
    delay = 0.2
    last = "no answer"
    while True:
        # each try's own deadline fits in what is left of --api-timeout (a server that accepts and
        # never answers must not keep us past it)
        per_try = max(1.0, min(DEFAULT_REQUEST_TIMEOUT, deadline - time.monotonic()))
        try:
            return connect(kubeconfig=kubeconfig_file, context=context, request_timeout=per_try).ping()
        except (ConnectionFailed, Timeout) as exc:
            last = exc.message
        if time.monotonic() + delay > deadline:
            raise ConnectionFailed(f"the API server of context {context} did not answer within {int(timeout)} s: {last}")
        time.sleep(delay)
        delay = min(delay * 2, 5.0)


# -- credentials ---------------------------------------------------------------------------

def first_kubeconfig(value: str | None) -> str | None:
    """--kubeconfig may list several files (a:b, like KUBECONFIG), but fresh credentials are
    merged into one file: the first, so a cluster's entries do not end up split across files."""
    if not value:
        return None
    first = [p for p in value.split(os.pathsep) if p]
    return first[0] if first else None


def default_kubeconfig_path(explicit: str | None = None) -> Path:
    """--file, else the first file of --kubeconfig / KUBECONFIG (the CLI's --kubeconfig option
    reads KUBECONFIG and passes its first file here), else ~/.kube/config."""
    if explicit:
        return Path(explicit).expanduser()
    return Path.home() / ".kube" / "config"


def merge_kubeconfig(existing: dict | None, new: dict) -> tuple[dict, list[str]]:
    """Like `az aks get-credentials --overwrite-existing`: entries of `new` replace entries with
    the same name (clusters, users, contexts); everything else stays; current-context becomes
    new's. Returns (merged, names replaced)."""
    merged = dict(existing or {})
    merged.setdefault("apiVersion", "v1")
    merged.setdefault("kind", "Config")
    merged.setdefault("preferences", {})
    replaced: list[str] = []
    for section in ("clusters", "users", "contexts"):
        current = list(merged.get(section) or [])
        incoming = list(new.get(section) or [])
        names = {e.get("name") for e in incoming}
        replaced += [f"{section[:-1]}/{e.get('name')}" for e in current if e.get("name") in names]
        merged[section] = [e for e in current if e.get("name") not in names] + incoming
    if new.get("current-context"):
        merged["current-context"] = new["current-context"]
    return merged, replaced


def credentials_path(file: str | None) -> Path:
    """Where credentials go, checked before Azure is asked anything (a directory is refused:
    otherwise a start would run for minutes and then fail to write)."""
    path = default_kubeconfig_path(file)
    if path.is_dir():
        raise UsageError(f"{path} is a directory, not a kubeconfig file (use --file FILE)")
    return path


def _merge_credentials(aks, target, file: str | None) -> CredentialsResult:
    """Merge Azure's kubeconfig into the file. Read as strings and written with the quoting
    kubectl needs (yamlsafe): `user: "y"` must not come back as `user: y`, a boolean to kubectl."""
    import yaml

    from tripgenctl import yamlsafe

    path = credentials_path(file)
    raw = aks.user_kubeconfig()
    try:
        new = yamlsafe.load(raw)
    except yaml.YAMLError:
        raise ToolError(f"the kubeconfig Azure returned for {target.cluster_name} is not valid YAML") from None
    if not isinstance(new, dict) or not new.get("contexts"):
        raise ToolError(f"the kubeconfig Azure returned for {target.cluster_name} has no context")
    existing = None
    if path.exists():
        try:
            existing = yamlsafe.load(path.read_text()) or {}
        except yaml.YAMLError:
            raise UsageError(f"{path} is not valid YAML; not touching it (use --file to write elsewhere)") from None
        if not isinstance(existing, dict):
            raise UsageError(f"{path} is not a kubeconfig; not touching it (use --file to write elsewhere)")
    merged, replaced = merge_kubeconfig(existing, new)
    _write_private(path, yamlsafe.dump(merged))
    context = new.get("current-context") or new["contexts"][0]["name"]
    ctx = next((c for c in new["contexts"] if c.get("name") == context), new["contexts"][0])
    cluster_name = (ctx.get("context") or {}).get("cluster")
    server = next(((c.get("cluster") or {}).get("server") for c in new.get("clusters") or [] if c.get("name") == cluster_name), None)
    new_ctx_names = {c.get("name") for c in new["contexts"]}
    kept = [c.get("name") for c in merged["contexts"] if c.get("name") not in new_ctx_names]
    message = (f"merged into {path} (current context {context}); "
               + (f"kept {len(kept)} other context(s): {', '.join(kept)}" if kept else "no other contexts in the file"))
    return CredentialsResult(cluster=target.cluster_name, file=str(path), context=context, server=server, message=message,
                             replaced=replaced, kept_contexts=kept)


def _write_private(path: Path, text: str) -> None:
    """Atomic replace with mode 0600: the file holds client keys/tokens."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tripgenctl-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def cluster_credentials(target, file: str | None = None) -> CredentialsResult:
    credentials_path(file)
    aks = _door(target)
    try:
        return _merge_credentials(aks, target, file)
    finally:
        aks.close()

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
    node_provisioning_mode: Optional[str] = None  # Manual | Auto (node auto-provisioning: AKS cannot stop the cluster)


@dataclass
class CredentialsResult:
    cluster: str
    file: str
    context: str
    server: Optional[str]
    message: str = ""
    replaced: list[str] = field(default_factory=list)  # entry names that already existed and were replaced
    kept_contexts: list[str] = field(default_factory=list)  # other contexts left in the file
    refreshed: list[str] = field(default_factory=list)  # other cluster entries that had this cluster's old address, now the new one


@dataclass
class ClusterActionResult:
    __sections__ = ("findings",)
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
    saves_per_hour: Optional[float] = None  # stop: the node cost a stopped cluster does not pay (the cost model)
    currency: Optional[str] = None
    nodes_ready: Optional[str] = None  # start: "2/2" once every node reported Ready
    checks: Optional[str] = None  # start: doctor's summary line (or why the checks did not run)
    critical: Optional[int] = None  # start: doctor's critical findings (any: exit 1)
    warnings: Optional[int] = None
    findings: list = field(default_factory=list)  # start: doctor's findings that are not ok (cluster_checks.StartFinding)
    refreshed: list[str] = field(default_factory=list)  # start: other kubeconfig entries that pointed at the old address, updated


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
        node_provisioning_mode=info.node_provisioning_mode,
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


def stop_refusal(status: ClusterStatus, cooldown_minutes: float, now=None) -> Optional[str]:
    """Why `cluster stop` must not go ahead now, saying when it will be allowed; None when it may.
    In order: a power operation still running (ARM's provisioningState Starting/Stopping), node
    auto-provisioning (AKS refuses to stop such a cluster, Azure/AKS #5356), the cool-down."""
    from datetime import datetime, timedelta, timezone

    if status.provisioning_state in ("Starting", "Stopping"):
        running = "start" if status.provisioning_state == "Starting" else "stop"
        since = f", since {status.last_power_change}" if status.last_power_change else ""
        when = "once it has finished"
        if status.last_power_change and cooldown_minutes > 0:
            last = datetime.strptime(status.last_power_change, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
            allowed = (last + timedelta(minutes=cooldown_minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")
            when += f" and the {cooldown_minutes:g}-minute cool-down after it has passed: not before {allowed}"
        return (f"cannot stop {status.cluster}: an operation is in progress (a {running}: provisioning state {status.provisioning_state}{since}); "
                f"a stop is allowed {when} (tripgenctl cluster status)")
    if (status.node_provisioning_mode or "").lower() == "auto":
        return (f"cannot stop {status.cluster}: it uses node auto-provisioning (properties.nodeProvisioningProfile.mode Auto), "
                "and AKS cannot stop such a cluster (Azure/AKS #5356); a stop is allowed once node auto-provisioning is off "
                "(mode Manual); until then `tripgenctl down` scales the namespace down but saves no node cost")
    if status.provisioning_state in BUSY_STATES:
        return None  # another kind of operation: _precheck names it
    return cooldown_refusal(status, cooldown_minutes, now)


@dataclass
class Saving:
    __table__ = ("item", "per_hour", "basis")
    item: str  # node pool nodepool1 | still billed
    per_hour: float
    basis: str


@dataclass
class StopPlan:
    """What `cluster stop` stops and what that saves per hour (the [cost] model: Azure bills
    hourly at monthly/730; only the node cost stops, the rest is billed while stopped too)."""

    __sections__ = ("changes", "savings")
    action: str
    cluster: str
    resource_group: str
    power_state: str
    saves_per_hour: float
    still_billed_per_hour: float
    currency: str
    destructive: bool = True  # False: already stopped, nothing goes down
    dry_run: bool = False
    refused: Optional[str] = None  # a real stop would be refused now, and why
    note: Optional[str] = None
    changes: list = field(default_factory=list)  # ops.safety.Change rows
    savings: list[Saving] = field(default_factory=list)

    def question(self) -> str:
        what = "; ".join(f"{c.object}: {c.change}" for c in self.changes)
        return (f"Stop AKS cluster {self.cluster} (resource group {self.resource_group})? {what}; "
                f"saves {self.saves_per_hour:.2f} {self.currency}/hour")


def stop_plan(status: ClusterStatus, cost, refused: Optional[str] = None, dry_run: bool = False) -> StopPlan:
    """`cost` is the [cost] section (ToolConfig.cost). The model prices the node pool as a whole
    (the SPEC's two Standard_B2s); a pool's share is by node count."""
    from tripgenctl.ops.cost import Rates
    from tripgenctl.ops.safety import Change

    rates = Rates.of(cost)
    running = status.power_state != "Stopped" or status.provisioning_state == "Starting"
    saves = rates.nodes if running else 0.0
    nodes = sum(p.count or 0 for p in status.node_pools)
    changes = [Change(f"AKS cluster {status.cluster}",
                      f"{status.power_state} -> Stopped: every node and the API server go down; disks kept"
                      if running else "already stopped: nothing to do")]
    changes += [Change(f"node pool {p.name}", f"{p.count} x {p.vm_size} {p.power_state} -> Stopped") for p in status.node_pools]
    basis = f"the cost model's nodes {cost.nodes:g} {cost.currency}/month / {cost.hours_per_month:g} h"  # no [..]: tables read it as markup
    savings = [Saving(f"node pool {p.name}", round(saves * (p.count or 0) / nodes, 4) if nodes else 0.0,
                      f"{p.count} of {nodes} node(s) of {basis}") for p in status.node_pools]
    savings.append(Saving("still billed", round(rates.fixed, 4), "disk, load balancer, Service Bus, monitoring: billed while stopped too"))
    return StopPlan("cluster stop", status.cluster, status.resource_group, status.power_state, round(saves, 4), round(rates.fixed, 4),
                    cost.currency, destructive=running, dry_run=dry_run, refused=refused,
                    note=f"a real stop is refused now: {refused}" if refused else None, changes=changes, savings=savings)


def plan_stop(target, cost, cooldown: float) -> StopPlan:
    """The --dry-run plan, from the cluster's current state (with the refusal a stop would meet)."""
    status = cluster_status(target)
    idle = status.power_state == "Stopped" and status.provisioning_state == "Succeeded"
    return stop_plan(status, cost, None if idle else stop_refusal(status, cooldown), dry_run=True)


def cluster_stop(target, confirm: Callable[[str], None] | None = None, wait: bool = True,
                 on_progress: Callable[[Progress], None] | None = None, timeout: float = 1800, poll_interval: float | None = None,
                 cooldown: float | None = None, cost=None) -> ClusterActionResult:
    """Pre-checks (a power operation running, node auto-provisioning, the cool-down after the
    last start/stop: stop_refusal), confirm with the plan (the caller's confirm(question) raises
    when not confirmed), stop. `cost` ([cost]) prices the saving; None: the defaults."""
    if cost is None:
        from tripgenctl.config import CostConfig

        cost = CostConfig()
    aks = _door(target, poll_interval)
    try:
        status = _status_of(target, aks.get())
        if status.power_state == "Stopped" and status.provisioning_state == "Succeeded":
            return ClusterActionResult("stop", status.cluster, "already stopped", status.power_state, status.provisioning_state, 0.0,
                                       f"{status.cluster} is already stopped; nothing to do")
        if cooldown is None:  # callers pass config azure.power_cooldown_minutes
            cooldown = AzureConfig.power_cooldown_minutes
        refusal = stop_refusal(status, cooldown)
        if refusal:
            raise OperationRefused(refusal)
        _precheck(status, "stop")
        plan = stop_plan(status, cost)
        if confirm is not None:
            confirm(plan.question())
        outcome, elapsed = _run(aks, target, "stop", wait, on_progress, timeout)
        after = _status_of(target, aks.get())
    finally:
        aks.close()
    message = (f"stop of {after.cluster} accepted; it continues in Azure (tripgenctl cluster status)" if outcome == "accepted"
               else f"{after.cluster} stopped in {elapsed:.0f} s; saves {plan.saves_per_hour:.2f} {plan.currency}/hour")
    return ClusterActionResult("stop", after.cluster, outcome, after.power_state, after.provisioning_state, elapsed, message,
                               saves_per_hour=plan.saves_per_hour, currency=plan.currency)


def cluster_start(target, wait: bool = True, on_progress: Callable[[Progress], None] | None = None, timeout: float = 1800,
                  kubeconfig_file: str | None = None, verify_api: bool = True, api_timeout: float = 300,
                  poll_interval: float | None = None, context: str | None = None, namespace: str | None = None,
                  config=None, nodes_timeout: float = 600, checks: bool = True) -> ClusterActionResult:
    """Pre-check, start, then (when waiting) merge fresh credentials — the API server address
    may have changed — wait until the API server answers and every node is Ready, and (with a
    `config`, the ToolConfig, and `checks`) run doctor's checks in `namespace`: their summary is
    in the result (a critical finding: the caller exits 1). `context` is the one the user works
    with (--context); it is the one checked when the file has it."""
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
        creds = _merge_credentials(aks, target, kubeconfig_file, context)
    finally:
        aks.close()
    version = nodes = None
    found = None
    if verify_api:
        if on_progress:
            on_progress(Progress("start", elapsed, "waiting for the API server"))
        version = wait_for_api(creds.file, creds.context, api_timeout)
        from tripgenctl.kube.client import connect
        from tripgenctl.ops import cluster_checks

        kube = connect(kubeconfig=creds.file, context=creds.context, namespace=namespace)
        say = (lambda text: on_progress(Progress("start", round(elapsed + time.monotonic() - started, 1), text))) if on_progress else None
        nodes = cluster_checks.wait_for_nodes(kube, nodes_timeout, say)
        if checks and config is not None:
            if say:
                say("running doctor's checks")
            found = cluster_checks.run_checks(kube, config)
    elapsed = round(elapsed + time.monotonic() - started, 1)
    message = (f"{after.cluster} is already running; credentials refreshed" if already
               else f"{after.cluster} started in {elapsed:.0f} s; credentials refreshed")
    if creds.refreshed:
        message += f" (also {', '.join(creds.refreshed)}, which pointed at the old address)"
    if version:
        message += f"; API server answers ({version})"
    if nodes:
        message += f"; nodes Ready {nodes}"
    result = ClusterActionResult("start", after.cluster, outcome, after.power_state, after.provisioning_state, elapsed, message,
                                 kubeconfig=creds.file, context=creds.context, api_server=creds.server, api_version=version,
                                 nodes_ready=nodes, refreshed=creds.refreshed)
    if found is not None:
        cluster_checks.attach(result, found)
    return result


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


def refresh_moved(existing: dict | None, new: dict, merged: dict) -> list[str]:
    """The API server moved (a start may do that): cluster entries in the file under another
    name (a renamed context's, a copy) that still have the address the replaced entry had get the
    new address and CA too, so every context that reached this cluster still does. Returns the
    names updated. An entry with another address is another cluster: left alone."""
    incoming = {e.get("name"): e.get("cluster") or {} for e in new.get("clusters") or []}
    moved = {}
    for e in (existing or {}).get("clusters") or []:
        old = (e.get("cluster") or {}).get("server")
        fresh = incoming.get(e.get("name"))
        if old and fresh is not None and fresh.get("server") and fresh.get("server") != old:
            moved[old] = fresh
    done = []
    for e in merged.get("clusters") or []:
        body = e.get("cluster") or {}
        if e.get("name") in incoming or body.get("server") not in moved:
            continue
        fresh = moved[body["server"]]
        body = dict(body, server=fresh["server"])
        for key in ("certificate-authority-data", "certificate-authority"):
            body.pop(key, None)
            if key in fresh:
                body[key] = fresh[key]
        e["cluster"] = body
        done.append(f"cluster/{e.get('name')}")
    return done


def credentials_path(file: str | None) -> Path:
    """Where credentials go, checked before Azure is asked anything (a directory is refused:
    otherwise a start would run for minutes and then fail to write)."""
    path = default_kubeconfig_path(file)
    if path.is_dir():
        raise UsageError(f"{path} is a directory, not a kubeconfig file (use --file FILE)")
    return path


def _merge_credentials(aks, target, file: str | None, user_context: str | None = None) -> CredentialsResult:
    """Merge Azure's kubeconfig into the file. Read as strings and written with the quoting
    kubectl needs (yamlsafe): `user: "y"` must not come back as `user: y`, a boolean to kubectl.
    `user_context` (--context): reported as the context when the file has it and it reaches this
    cluster (one of Azure's contexts, or one whose cluster entry was refreshed)."""
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
    refreshed = refresh_moved(existing, new, merged)
    _write_private(path, yamlsafe.dump(merged))
    context = new.get("current-context") or new["contexts"][0]["name"]
    if user_context and user_context != context:
        mine = next((c for c in merged["contexts"] if c.get("name") == user_context), None)
        mine_cluster = ((mine or {}).get("context") or {}).get("cluster")
        if mine is not None and (user_context in {c.get("name") for c in new["contexts"]}
                                 or f"cluster/{mine_cluster}" in refreshed or mine_cluster in {c.get("name") for c in new.get("clusters") or []}):
            context = user_context
    ctx = next((c for c in merged["contexts"] if c.get("name") == context), new["contexts"][0])
    cluster_name = (ctx.get("context") or {}).get("cluster")
    server = next(((c.get("cluster") or {}).get("server") for c in merged.get("clusters") or [] if c.get("name") == cluster_name), None)
    new_ctx_names = {c.get("name") for c in new["contexts"]}
    kept = [c.get("name") for c in merged["contexts"] if c.get("name") not in new_ctx_names]
    message = (f"merged into {path} (current context {merged.get('current-context')}); "
               + (f"kept {len(kept)} other context(s): {', '.join(kept)}" if kept else "no other contexts in the file"))
    return CredentialsResult(cluster=target.cluster_name, file=str(path), context=context, server=server, message=message,
                             replaced=replaced, kept_contexts=kept, refreshed=refreshed)


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

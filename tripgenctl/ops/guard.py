"""The target guard: a destructive command first checks that the kubeconfig points at the
configured environment. A stale current-context is the classic way to run dev commands against
production, and `--yes` (which only answers the question) must not also wave that through: a
mismatch needs its own flag, `--allow-other-context`.

Matching is exact. A name is a glob pattern only when the user wrote one in the config (the
defaults are plain names), and a pattern must match the whole name: `aks-tripgen-dev` does not
accept `aks-tripgen-dev-prod`, and neither does anything else unless someone wrote it so.
A run inside the cluster (`in-cluster`, the schedule's CronJobs) is the environment when it acts
on the namespace its ServiceAccount lives in."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from tripgenctl.errors import UsageError

IN_CLUSTER = "in-cluster"
GLOB_CHARS = "*?["
OVERRIDE_FLAG = "--allow-other-context"


@dataclass
class Target:
    context: str
    server: str
    expected: bool
    reason: str


def matches(name: str, wanted: str) -> bool:
    """Exact, unless `wanted` is a glob pattern (anchored at both ends)."""
    if any(ch in wanted for ch in GLOB_CHARS):
        return fnmatch.fnmatchcase(name, wanted)
    return name == wanted


def check_target(context: str, server: str, expected_contexts: list[str], expected_servers: list[str]) -> Target:
    """Expected when the context name is one of the configured ones and, if servers are
    configured, the API server URL is one of those too."""
    ctx_ok = any(matches(context, c) for c in expected_contexts)
    srv_ok = any(matches(server, s) for s in expected_servers) if expected_servers else True
    if not ctx_ok:
        wanted = ", ".join(expected_contexts) or "none configured"
        return Target(context, server, False, f'context "{context}" is not the configured environment (expected_contexts: {wanted})')
    if not srv_ok:
        return Target(context, server, False, f'context "{context}" points at API server {server}, not one of expected_servers ({", ".join(expected_servers)})')
    return Target(context, server, True, "")


def _own_namespace() -> str | None:
    from tripgenctl.kube.client import IN_CLUSTER_TOKEN

    path = IN_CLUSTER_TOKEN.with_name("namespace")
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def target_of(kube, config) -> Target:
    if kube.context_name == IN_CLUSTER:
        own = _own_namespace()
        if own is not None and own == kube.namespace:
            return Target(IN_CLUSTER, kube.server, True, "")
        return Target(IN_CLUSTER, kube.server, False,
                      f"an in-cluster run may act on its own namespace ({own or 'unknown'}) only, not {kube.namespace}")
    return check_target(kube.context_name, kube.server, config.target_contexts(), list(config.expected_servers or []))


def require_expected(kube, config, action: str, allow_other_context: bool = False) -> Target:
    """Raise a one-line UsageError (exit 2) unless the target is the configured environment or
    the user passed --allow-other-context (not --yes: that only answers the question)."""
    target = target_of(kube, config)
    if not target.expected and not allow_other_context:
        raise UsageError(f"{action} refused: {target.reason}; check --context/KUBECONFIG, or pass {OVERRIDE_FLAG} "
                         f"if this is really the target (--yes does not override this)")
    return target

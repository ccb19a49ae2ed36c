"""The production guard: commands that change the environment wholesale (deploy, restore)
first check that the kubeconfig points at the configured environment. A stale
current-context is the classic way to deploy dev manifests into production."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from tripgenctl.errors import UsageError


@dataclass
class Target:
    context: str
    server: str
    expected: bool
    reason: str


def check_target(context: str, server: str, expected_contexts: list[str], expected_servers: list[str]) -> Target:
    """Expected when the context name matches one of the glob patterns and, if servers are
    configured, the API server URL matches one of those too."""
    ctx_ok = any(fnmatch.fnmatchcase(context, pattern) for pattern in expected_contexts) if expected_contexts else False
    srv_ok = any(fnmatch.fnmatchcase(server, pattern) for pattern in expected_servers) if expected_servers else True
    if not ctx_ok:
        wanted = ", ".join(expected_contexts) or "none configured"
        return Target(context, server, False, f'context "{context}" is not the configured environment (expected_contexts: {wanted})')
    if not srv_ok:
        return Target(context, server, False, f'context "{context}" points at API server {server}, not one of expected_servers ({", ".join(expected_servers)})')
    return Target(context, server, True, "")


def require_expected(kube, config, action: str, yes: bool = False) -> Target:
    """Raise a one-line UsageError (exit 2) unless the target is the configured environment
    or the user passed --yes."""
    target = check_target(kube.context_name, kube.server, list(config.expected_contexts or []), list(config.expected_servers or []))
    if not target.expected and not yes:
        raise UsageError(f"{action} refused: {target.reason}; check --context/KUBECONFIG, or pass --yes if this is really the target")
    return target

"""Developers' copies of this environment (`env create`) whose expiry has passed: they hold node
capacity and cost money until `env gc` removes them."""

from __future__ import annotations

from tripgenctl.errors import ToolError
from tripgenctl.ops.doctor.model import Finding


def check_copies(snap, cfg, ctx) -> list[Finding]:
    from tripgenctl.ops import envcopy

    try:
        found = envcopy.copies(ctx.kube, snap.namespace)
    except ToolError as exc:
        return [Finding("copies", "warning", f"namespace/{snap.namespace}", "could not list the environment's copies", exc.message)]
    findings = []
    for ns in found:
        if envcopy.expired(ns, ctx.now):
            meta = ns["metadata"]
            findings.append(Finding(
                "copies", "warning", f"namespace/{meta['name']}",
                f"copy {meta.get('labels', {}).get(envcopy.ENV_LABEL, meta['name'])} expired at "
                f"{meta.get('annotations', {}).get(envcopy.EXPIRES_ANNOTATION)}",
                f"owner {meta.get('labels', {}).get(envcopy.OWNER_LABEL, 'unknown')}",
                cause="a developer's copy past its --ttl", fix="remove it (a safety backup of its database is taken first)",
                command="tripgenctl env gc --yes"))
    return findings

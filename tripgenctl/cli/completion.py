"""Shell completion of the values people actually type: workload names, kube contexts,
environments (the configured namespace and profiles) and backup files. Attached in one place
to the built command tree by parameter name, so the verb modules declare their options without
knowing about completion. Every source is local (config, kubeconfig, the backup directory):
a Tab press never waits on a cluster."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable


def _config(ctx=None):
    """The configuration the completed command line names (--config, --env, else the usual
    search): completion runs with the root callback's loading skipped, so it reads its own."""
    from tripgenctl.config import load

    root = ctx.find_root().params if ctx is not None else {}
    try:
        return load(root.get("config"), root.get("env"))
    except Exception:  # noqa: BLE001 - a broken config must not break the shell's Tab
        from tripgenctl.config import ToolConfig

        return ToolConfig()


def _matching(values: Iterable[str], incomplete: str) -> list[str]:
    seen: list[str] = []
    for v in values:
        if v.startswith(incomplete) and v not in seen:
            seen.append(v)
    return seen


def workloads(ctx, param, incomplete: str) -> list[str]:
    w = _config(ctx).workloads
    return _matching([*w.apps, w.postgres, w.redis], incomplete)


def contexts(ctx, param, incomplete: str) -> list[str]:
    import yaml

    names: list[str] = []
    paths = (ctx.find_root().params.get("kubeconfig") or os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config"))
    for path in paths.split(os.pathsep):
        try:
            doc = yaml.safe_load(Path(path).expanduser().read_text()) or {}
        except (OSError, yaml.YAMLError):
            continue
        names += [str(c.get("name")) for c in doc.get("contexts") or [] if isinstance(c, dict) and c.get("name")]
    return _matching(names, incomplete)


def namespaces(ctx, param, incomplete: str) -> list[str]:
    return _matching([_config(ctx).namespace], incomplete)


def profiles(ctx, param, incomplete: str) -> list[str]:
    from tripgenctl import manifests

    try:
        names = list(manifests.load_profiles()[1])
    except Exception:  # noqa: BLE001
        names = ["001", "000"]
    return _matching(names, incomplete)


def backup_files(ctx, param, incomplete: str) -> list[str]:
    """Files in the backup directory (or in the directory typed so far) that look like backups."""
    directory = Path(ctx.params.get("backup_dir") or _config(ctx).backup.dir)
    prefix = incomplete
    if os.sep in incomplete:
        directory, prefix = Path(incomplete).parent, Path(incomplete).name
    try:
        files = sorted(p for p in directory.iterdir() if p.suffix in (".dump", ".sql") and p.name.startswith(prefix))
    except OSError:
        return []
    return [str(p) for p in files]


# option or argument name (click's param.name) -> completer; the same name means the same kind
# of value in every command.
BY_NAME: dict[str, Callable] = {
    "exclude": workloads,
    "only_workload": workloads,
    "workload": workloads,
    "context": contexts,
    "namespace": namespaces,
    "profile": profiles,
    "file": backup_files,
}


def attach(command) -> None:
    """Walk the built click tree and give each parameter of a known name its completer."""
    for param in getattr(command, "params", []):
        completer = BY_NAME.get(param.name or "")
        if completer is not None and getattr(param, "_custom_shell_complete", None) is None:
            param._custom_shell_complete = completer
    for sub in getattr(command, "commands", {}).values():
        attach(sub)

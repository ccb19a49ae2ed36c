"""Kubeconfig files read and merged the way kubectl (client-go's loader) does it, for
`KUBECONFIG=a:b` and `--kubeconfig a:b`:

- files that do not exist are skipped, empty files contribute nothing;
- clusters, users and contexts are keyed by name and the FIRST file that defines a name wins
  (a later file never changes an entry an earlier one set);
- current-context comes from the first file that sets it;
- a relative file path inside an entry (certificate-authority, client-certificate, client-key,
  tokenFile, an exec command with a slash) is relative to the file that holds the entry.

Only PyYAML here: the SDK's loader is fed the merged dict (kube/client.py)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tripgenctl.errors import UsageError

SECTIONS = (("clusters", "cluster"), ("users", "user"), ("contexts", "context"))
PATH_KEYS = {"cluster": ("certificate-authority",), "user": ("client-certificate", "client-key", "tokenFile")}


def split_paths(value: str | None) -> list[str]:
    """`a:b` (os.pathsep) -> the non-empty entries, `~` expanded."""
    return [os.path.expanduser(p) for p in (value or "").split(os.pathsep) if p]


def read(path: str) -> dict:
    """One file as a dict ({} when empty); a one-line UsageError naming the file otherwise."""
    import yaml

    p = Path(path)
    if p.is_dir():
        raise UsageError(f"kubeconfig {path} is a directory, not a file")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise UsageError(f"kubeconfig {path} is not valid YAML{where}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read kubeconfig {path}: {exc.strerror if isinstance(exc, OSError) else 'not text'}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"kubeconfig {path} is not a kubeconfig (expected a mapping at the top)")
    return data


def merge(documents: list[tuple[str, dict]]) -> dict:
    """Merge (path, parsed file) pairs in order with kubectl's rules (see the module doc)."""
    merged: dict[str, Any] = {"apiVersion": "v1", "kind": "Config", "preferences": {}, "clusters": [], "users": [], "contexts": []}
    seen: dict[str, set[str]] = {section: set() for section, _ in SECTIONS}
    for path, data in documents:
        base = os.path.dirname(os.path.abspath(path))
        for section, inner in SECTIONS:
            entries = data.get(section) or []
            if not isinstance(entries, list):
                raise UsageError(f"kubeconfig {path}: {section} must be a list")
            for entry in entries:
                if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"]:
                    raise UsageError(f"kubeconfig {path}: every entry of {section} needs a name")
                if entry["name"] in seen[section]:
                    continue  # first file wins
                seen[section].add(entry["name"])
                merged[section].append(_absolute(entry, inner, base))
        current = data.get("current-context")
        if current and "current-context" not in merged:
            merged["current-context"] = str(current)
        if isinstance(data.get("preferences"), dict) and not merged["preferences"]:
            merged["preferences"] = data["preferences"]
    return merged


def merge_files(paths: list[str]) -> dict:
    return merge([(p, read(p)) for p in paths])


def _absolute(entry: dict, inner: str, base: str) -> dict:
    body = entry.get(inner)
    if not isinstance(body, dict):
        return entry
    body = dict(body)
    for key in PATH_KEYS.get(inner, ()):
        value = body.get(key)
        if isinstance(value, str) and value and not os.path.isabs(value):
            body[key] = os.path.normpath(os.path.join(base, os.path.expanduser(value)))
    exec_ = body.get("exec")
    if inner == "user" and isinstance(exec_, dict):
        command = exec_.get("command")
        if isinstance(command, str) and os.sep in command and not os.path.isabs(command):
            body["exec"] = dict(exec_, command=os.path.normpath(os.path.join(base, command)))
    return dict(entry, **{inner: body})


def find_context(merged: dict, wanted: str | None) -> dict:
    """The context entry to use: --context, else current-context; one-line errors otherwise."""
    contexts = {c["name"]: c for c in merged.get("contexts") or []}
    name = wanted or merged.get("current-context")
    if not name:
        raise UsageError("the kubeconfig has no current context (pass --context)")
    if name not in contexts:
        if wanted:
            raise UsageError(f'context "{wanted}" not found in the kubeconfig')
        raise UsageError(f'the current context "{name}" is not defined in the kubeconfig (pass --context)')
    return contexts[name]

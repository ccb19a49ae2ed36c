"""The `kubernetes` package without its `__init__`: that file imports every part of the SDK
(the dynamic client, which loads kubernetes-validate and jsonschema; the informer; leader
election; utils), about 60 ms of every command's start (a fifth of a small `db backup`'s
overhead) for parts the door does not use on most commands. With an empty package module
registered first, `from kubernetes import client` imports only that submodule and what it
needs; everything the door imports still resolves the same (a submodule is imported on first
use). A process that imported `kubernetes` already keeps the real one."""

from __future__ import annotations

import importlib.util
import re
import sys


def use_submodules_only() -> None:
    if "kubernetes" in sys.modules:
        return
    spec = importlib.util.find_spec("kubernetes")
    if spec is None or not spec.submodule_search_locations:
        return  # not installed: the door's own import says so
    package = importlib.util.module_from_spec(spec)  # created, not executed
    # what the SDK reads from its package itself (the dynamic client's discovery cache names
    # its version): the two assignments of the unexecuted __init__
    try:
        text = open(spec.origin, encoding="utf-8").read() if spec.origin else ""
    except OSError:
        text = ""
    for name in ("__project__", "__version__"):
        found = re.search(rf"^{name}\s*=\s*['\"]([^'\"]+)['\"]", text, re.M)
        setattr(package, name, found.group(1) if found else "unknown")
    sys.modules["kubernetes"] = package

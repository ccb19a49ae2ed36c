"""The kubelet's half of a container's private filesystem view (nsroot.py is the other half, run
inside the new mount namespace): which host directory appears at which mountPath, read-only or
not, and the argv prefixes that start a container in a fresh view or an exec in its running one."""

from __future__ import annotations

import functools
import json
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

NSROOT = Path(__file__).with_name("nsroot.py")
ALWAYS_READ_ONLY = ("configMap", "secret", "projected", "downwardAPI")  # as the kubelet mounts them
HOME = "/root"  # the images the sandbox runs have root's home here


@dataclass
class Mount:
    path: str  # where the container sees it
    source: Path  # host directory or file
    read_only: bool = False


@dataclass
class ContainerView:
    directory: Path  # the container's private directory (spec, ready marker, tmpfs mount point)
    mounts: list[Mount] = field(default_factory=list)
    workdir: str = "/"
    hosts: Path | None = None

    @property
    def spec_path(self) -> Path:
        return self.directory / "view.json"

    @property
    def ready_path(self) -> Path:
        return self.directory / "view.pid"

    def write(self) -> None:
        """Write the spec for the next start (and forget the previous instance's view)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "root").mkdir(exist_ok=True)
        self.ready_path.unlink(missing_ok=True)
        spec = {
            "root": str(self.directory / "root"),
            "mounts": [{"path": m.path, "source": str(m.source), "readOnly": m.read_only} for m in self.mounts],
            "hosts": str(self.hosts) if self.hosts else None,
            "workdir": self.workdir,
            "ready": str(self.ready_path),
        }
        self.spec_path.write_text(json.dumps(spec))

    def run_prefix(self, main: bool = True) -> list[str]:
        """main: the container itself (marks its view ready); else an exec in a fresh view."""
        return [sys.executable, "-I", "-S", str(NSROOT), "run" if main else "exec", str(self.spec_path), "--"]

    def enter_prefix(self, pid: int) -> list[str]:
        return [sys.executable, "-I", "-S", str(NSROOT), "enter", str(pid), self.workdir, "--"]

    def ready_pid(self) -> int | None:
        """The container process whose view is complete (it writes its pid just before exec)."""
        try:
            return int(self.ready_path.read_text())
        except (OSError, ValueError):
            return None

    def host_path(self, path: str) -> Path:
        """Where a path the container names lives on the host (for checks made before start)."""
        best = None
        for m in self.mounts:
            p = m.path.rstrip("/")
            if (path == p or path.startswith(p + "/")) and (best is None or len(p) > len(best.path.rstrip("/"))):
                best = m
        if best is None:
            return Path(path)
        return best.source / path[len(best.path.rstrip("/")):].lstrip("/")

    def which(self, exe: str, search_path: str) -> str | None:
        for d in search_path.split(":"):
            if d and shutil.which(exe, path=str(self.host_path(d))):
                return os.path.join(d, exe)
        return None


def mounts_for(pod: dict, container: dict, mounts: dict[str, Path], extra: list[Mount] = ()) -> list[Mount]:
    """The container's volumeMounts as host sources, plus mounts the kubelet adds (token, home)."""
    kinds = {}
    for vol in (pod.get("spec") or {}).get("volumes") or []:
        kinds[vol["name"]] = next((k for k in ALWAYS_READ_ONLY if k in vol), "")
    out = {m.path.rstrip("/"): m for m in extra}
    for vm in container.get("volumeMounts") or []:
        path = vm["mountPath"]
        source = mounts.get(path)
        if source is None:
            continue
        read_only = bool(vm.get("readOnly")) or bool(kinds.get(vm.get("name", "")))
        out[path.rstrip("/")] = Mount(path, Path(os.path.realpath(source)), read_only)  # the spec's own wins
    return list(out.values())


@functools.lru_cache(maxsize=4)
def home_keep(state_dir: Path, runtime_dir: Path, search_path: str) -> tuple[str, ...]:
    """The host's /root is hidden behind the pod's own home (no host kubeconfig or ~ config leaks
    into a pod), except the entries of it the sandbox needs inside: its Python, virtualenv, state
    and PATH directories (e.g. /root/.pyenv) -- those are bound back into the pod's /root."""
    needed = [sys.prefix, sys.base_prefix, os.path.realpath(sys.executable), str(Path(__file__).resolve()), str(state_dir.resolve()), str(runtime_dir)]
    needed += [d for d in search_path.split(":") if d]
    keep = set()
    for p in needed:
        if p == HOME:
            return ("",)  # the whole of /root is needed: do not hide it
        if p.startswith(HOME + "/"):
            keep.add(HOME + "/" + p[len(HOME) + 1:].split("/", 1)[0])
    return tuple(sorted(k for k in keep if os.path.exists(k)))


def home_mounts(pod_home: Path, state_dir: Path, runtime_dir: Path, search_path: str) -> list[Mount] | None:
    """Mounts that make /root the pod's own home; None when /root cannot be hidden."""
    keep = home_keep(state_dir, runtime_dir, search_path)
    if keep == ("",):
        return None
    return [Mount(HOME, pod_home)] + [Mount(k, Path(k)) for k in keep]

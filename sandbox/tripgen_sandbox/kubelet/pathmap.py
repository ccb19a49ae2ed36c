"""The portable half of "a process sees its volumes at their mountPath and reaches services by
DNS name": rewrite mountPath prefixes to host directories and service names to ClusterIPs in
argv and env values. (Where the OS allows, the kubelet also gives the process an /etc/hosts in
a private mount namespace, so names inside scripts resolve too.)"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

_BEFORE = r"(?<![\w.\-/])"  # not inside a longer name or path
_AFTER = r"(?=$|[/\s'\";:,)\]}>|&])"


@dataclass
class PathMap:
    mounts: dict[str, Path] = field(default_factory=dict)  # mountPath -> host path
    hosts: dict[str, str] = field(default_factory=dict)  # dotted service name -> ClusterIP
    short_hosts: dict[str, str] = field(default_factory=dict)  # bare service name -> ClusterIP

    def __post_init__(self) -> None:
        self._mount_re = None
        paths = sorted((m.rstrip("/") for m in self.mounts if m.rstrip("/")), key=len, reverse=True)
        if paths:
            self._mount_re = re.compile(_BEFORE + "(" + "|".join(re.escape(p) for p in paths) + ")" + _AFTER)
        self._host_re = None
        if self.hosts:
            names = sorted(self.hosts, key=len, reverse=True)
            self._host_re = re.compile(r"(?<![\w.\-])(" + "|".join(re.escape(n) for n in names) + r")(?![\w\-]|\.\w)")
        self._short_re = None
        if self.short_hosts:
            names = sorted(self.short_hosts, key=len, reverse=True)
            # a bare name only where it is clearly a host: after //, @, host=, -h, --host
            self._short_re = re.compile(r"(?:(?<=//)|(?<=@)|(?<=host=)|(?<=-h )|(?<=-h)|(?<=--host ))(" + "|".join(re.escape(n) for n in names) + r")(?=$|[:/\s'\";,?])")

    def _mount_sub(self, m: re.Match) -> str:
        for mount, host in self.mounts.items():
            if mount.rstrip("/") == m.group(1):
                return str(host)
        return m.group(1)

    def rewrite(self, value: str) -> str:
        if self._mount_re is not None:
            value = self._mount_re.sub(self._mount_sub, value)
        if self._host_re is not None:
            value = self._host_re.sub(lambda m: self.hosts[m.group(1)], value)
        if self._short_re is not None:
            value = self._short_re.sub(lambda m: self.short_hosts[m.group(1)], value)
        return value

    def rewrite_argv(self, argv: list[str]) -> list[str]:
        out = []
        prev = ""
        for a in argv:
            if prev in ("-h", "--host", "-H") and a in self.short_hosts:
                out.append(self.short_hosts[a])
            else:
                out.append(self.rewrite(a))
            prev = a
        return out


def service_hosts(services: list[dict], namespace: str) -> tuple[dict[str, str], dict[str, str]]:
    """Names a pod in `namespace` can use for each Service with a ClusterIP (headless ones:
    the first ready endpoint is not known here, so they are left to /etc/hosts)."""
    dotted: dict[str, str] = {}
    short: dict[str, str] = {}
    for svc in services:
        ip = (svc.get("spec") or {}).get("clusterIP")
        if not ip or ip == "None":
            continue
        name = svc["metadata"]["name"]
        ns = svc["metadata"]["namespace"]
        for suffix in (".svc.cluster.local", ".svc", ""):
            dotted[f"{name}.{ns}{suffix}"] = ip
        if ns == namespace:
            short[name] = ip
    return dotted, short

"""The wiring of one running sandbox: every component gets this object and finds its peers
through it, so components stay separate modules with no import cycles."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tripgen_sandbox.config import SandboxConfig
from tripgen_sandbox.store import Store


@dataclass
class Cluster:
    config: SandboxConfig
    store: Store
    kubelet: Any = None  # tripgen_sandbox.kubelet.Kubelet
    netproxy: Any = None  # tripgen_sandbox.netproxy.ServiceProxy
    faults: dict[str, Any] = field(default_factory=dict)  # fault name -> parameters (set through `tripgenctl sandbox fault`)
    request_counts: dict[str, int] = field(default_factory=dict)  # "VERB path" -> count (bench/tests)
    auth: Any = None  # tripgen_sandbox.apiserver.auth.Authenticator (service-account tokens)

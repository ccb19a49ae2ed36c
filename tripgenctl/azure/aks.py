"""AKS through azure-mgmt-containerservice: read the managed cluster, start/stop it as ARM
long-running operations, fetch the user kubeconfig. Returns plain dataclasses so ops never see
SDK models."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from tripgenctl.azure.errors import translated

ARM_ENDPOINT_ENV = "TRIPGENCTL_ARM_ENDPOINT"
PUBLIC_ARM = "https://management.azure.com"


@dataclass(frozen=True)
class AksTarget:
    subscription: str
    resource_group: str
    cluster_name: str
    arm_endpoint: str | None = None  # None: TRIPGENCTL_ARM_ENDPOINT, else Azure's public cloud

    def describe(self) -> str:
        return f"cluster {self.cluster_name} (resource group {self.resource_group})"


@dataclass
class NodePool:
    name: str
    count: int | None
    vm_size: str | None
    spot: bool
    mode: str | None
    power_state: str | None


@dataclass
class ClusterInfo:
    name: str
    resource_group: str
    location: str | None
    power_state: str  # Running | Stopped | Unknown
    provisioning_state: str  # Succeeded | Stopping | Starting | Updating | Failed ...
    kubernetes_version: str | None
    fqdn: str | None
    node_pools: list[NodePool] = field(default_factory=list)
    last_modified: datetime | None = None  # ARM systemData.lastModifiedAt (a start/stop modifies the resource)
    node_provisioning_mode: str | None = None  # properties.nodeProvisioningProfile.mode: Manual | Auto (AKS cannot stop Auto)


def _code(value) -> str | None:
    if value is None:
        return None
    return getattr(value, "value", None) or str(value)


class Operation:
    """A started ARM long-running operation (wraps the SDK poller)."""

    def __init__(self, poller, what: str):
        self._poller = poller
        self._what = what

    def status(self) -> str:
        return str(self._poller.status())

    def done(self) -> bool:
        return self._poller.done()

    def wait(self, timeout: float) -> None:
        with translated(self._what):
            self._poller.wait(timeout)

    def result(self) -> None:
        with translated(self._what):
            self._poller.result()


class Aks:
    def __init__(self, target: AksTarget, poll_interval: float = 5.0):
        from azure.identity import DefaultAzureCredential
        from azure.mgmt.containerservice import ContainerServiceClient

        from tripgenctl.azure import quiet_sdk_logging

        quiet_sdk_logging()
        self.target = target
        self.poll_interval = poll_interval
        endpoint = target.arm_endpoint or os.environ.get(ARM_ENDPOINT_ENV) or PUBLIC_ARM
        self._credential = DefaultAzureCredential()
        kwargs = {}
        if endpoint.rstrip("/") != PUBLIC_ARM:
            kwargs["credential_scopes"] = [PUBLIC_ARM + "/.default"]
        self._client = ContainerServiceClient(self._credential, target.subscription, base_url=endpoint, retry_total=2, **kwargs)
        self._not_found = (f"{target.describe()} not found in subscription {target.subscription} "
                           "(check --subscription / --resource-group / --cluster-name)")

    def get(self) -> ClusterInfo:
        with translated(self.target.describe(), self._not_found):
            mc = self._client.managed_clusters.get(self.target.resource_group, self.target.cluster_name)
        pools = [
            NodePool(name=p.name, count=p.count, vm_size=p.vm_size, spot=_code(p.scale_set_priority) == "Spot",
                     mode=_code(p.mode), power_state=_code(p.power_state.code) if p.power_state else None)
            for p in (mc.agent_pool_profiles or [])
        ]
        return ClusterInfo(
            name=mc.name, resource_group=self.target.resource_group, location=mc.location,
            power_state=_code(mc.power_state.code) if mc.power_state else "Unknown",
            provisioning_state=mc.provisioning_state or "Unknown",
            kubernetes_version=mc.current_kubernetes_version or mc.kubernetes_version,
            fqdn=mc.fqdn or mc.private_fqdn, node_pools=pools,
            last_modified=getattr(getattr(mc, "system_data", None), "last_modified_at", None),
            node_provisioning_mode=_code(getattr(getattr(mc, "node_provisioning_profile", None), "mode", None)),
        )

    def begin(self, action: str) -> Operation:
        ops = self._client.managed_clusters
        start: Callable = ops.begin_stop if action == "stop" else ops.begin_start
        with translated(f"{action} {self.target.describe()}", self._not_found):
            poller = start(self.target.resource_group, self.target.cluster_name, polling_interval=self.poll_interval)
        return Operation(poller, f"{action} {self.target.describe()}")

    def user_kubeconfig(self) -> bytes:
        with translated(f"credentials of {self.target.describe()}", self._not_found):
            result = self._client.managed_clusters.list_cluster_user_credentials(self.target.resource_group, self.target.cluster_name)
        configs = result.kubeconfigs or []
        if not configs or not configs[0].value:
            from tripgenctl.errors import ToolError

            raise ToolError(f"Azure returned no kubeconfig for {self.target.describe()}")
        value = configs[0].value
        return value if isinstance(value, bytes) else value.encode()

    def close(self) -> None:
        for thing in (self._client, self._credential):
            try:
                thing.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                pass


def elapsed_since(start: float) -> float:
    return round(time.monotonic() - start, 1)

"""Fake ARM for Microsoft.ContainerService/managedClusters: GET, POST stop/start as ARM
long-running operations (202 + Azure-AsyncOperation + Location + Retry-After, polled until
Succeeded), 409 while another operation runs, listClusterUserCredential, and the
managed-identity token endpoint whose tokens every ARM call must carry.

Transitions can run a hook (`on_stop` / `on_start`, a callable run in a worker thread): the
operation reaches Succeeded only once the hook has returned AND `duration` has elapsed, so in
the sandbox a stop really stops the nodes and API before ARM says Stopped.

Behaviours of real AKS a cluster can be given (FakeCluster fields, changeable while it runs):
- `move_address_on_start`: a start hands back a new API server address (AKS may): `on_move`
  runs before `on_start` (the sandbox: a new port, so the old address stops answering), and the
  fqdn changes;
- `node_provisioning_mode = "Auto"`: properties.nodeProvisioningProfile.mode is reported, and a
  stop is refused with ARM's own OperationNotAllowed (Azure/AKS #5356);
- an operation in progress (a start/stop with a long `duration`) reports provisioningState
  Starting/Stopping and refuses another one with 409, as ARM does."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable, Optional

from aiohttp import web

from tripgen_sandbox.azurefakes.tokens import TokenIssuer

ARM_AUDIENCE = "https://management.azure.com"
CLUSTER_PATH = "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ContainerService/managedClusters/{name}"

Hook = Callable[[], None]


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


def _now_iso() -> str:
    return _iso(dt.datetime.now(dt.timezone.utc))


@dataclass
class Operation:
    id: str
    action: str  # stop | start
    started: float
    start_iso: str
    status: str = "InProgress"  # InProgress | Succeeded | Failed
    end_iso: str | None = None
    error: str | None = None


@dataclass
class FakeCluster:
    subscription: str
    resource_group: str
    name: str
    location: str = "koreacentral"
    kubernetes_version: str = "1.29.9"
    power_state: str = "Running"
    provisioning_state: str = "Succeeded"
    fqdn: str = ""
    node_pools: list[dict] = field(default_factory=lambda: [
        {"name": "nodepool1", "count": 2, "vmSize": "Standard_B2s", "scaleSetPriority": "Spot", "mode": "System", "osType": "Linux"},
    ])
    kubeconfig: Callable[[], bytes] | bytes | None = None  # what listClusterUserCredential returns
    on_stop: Optional[Hook] = None
    on_start: Optional[Hook] = None
    on_move: Optional[Hook] = None  # gives the API server a new address (runs before on_start)
    move_address_on_start: bool = False
    node_provisioning_mode: str | None = None  # Manual | Auto (None: the property is absent, as on older clusters)
    fqdn_suffix: str = "4f2c1e"  # the random part of the fqdn; a moved API server gets another
    duration: float = 2.0  # minimum seconds a stop/start takes
    operation: Operation | None = None
    operations: dict[str, Operation] = field(default_factory=dict)
    # ARM's systemData: every start/stop modifies the resource, so lastModifiedAt is when the
    # last power operation was accepted (what a cool-down between power operations counts from)
    created_at: str = field(default_factory=lambda: _iso(dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=30)))  # long before
    last_modified_at: str | None = None

    @property
    def path(self) -> str:
        return CLUSTER_PATH.format(sub=self.subscription, rg=self.resource_group, name=self.name)

    def resource(self) -> dict:
        fqdn = self.fqdn or f"{self.name}-dns-{self.fqdn_suffix}.hcp.{self.location}.azmk8s.io"
        pools = []
        for p in self.node_pools:
            pools.append(dict(p, provisioningState=self.provisioning_state, powerState={"code": self.power_state},
                              orchestratorVersion=self.kubernetes_version, currentOrchestratorVersion=self.kubernetes_version,
                              type="VirtualMachineScaleSets", enableAutoScaling=False))
        properties_extra = {}
        if self.node_provisioning_mode:
            properties_extra["nodeProvisioningProfile"] = {"mode": self.node_provisioning_mode}
        return {
            "id": self.path,
            "location": self.location,
            "name": self.name,
            "type": "Microsoft.ContainerService/ManagedClusters",
            "sku": {"name": "Base", "tier": "Free"},
            "systemData": {"createdBy": "tripgen-admin@example.com", "createdByType": "User", "createdAt": self.created_at,
                           "lastModifiedBy": "tripgen-admin@example.com", "lastModifiedByType": "User",
                           "lastModifiedAt": self.last_modified_at or self.created_at},
            "properties": {
                "provisioningState": self.provisioning_state,
                "powerState": {"code": self.power_state},
                "kubernetesVersion": self.kubernetes_version,
                "currentKubernetesVersion": self.kubernetes_version,
                "dnsPrefix": f"{self.name}-dns",
                "fqdn": fqdn,
                "azurePortalFQDN": fqdn.replace(".hcp.", ".portal.hcp."),
                "agentPoolProfiles": pools,
                "nodeResourceGroup": f"MC_{self.resource_group}_{self.name}_{self.location}",
                "enableRBAC": True,
                **properties_extra,
            },
        }


def arm_error(status: int, code: str, message: str, headers: dict | None = None) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)


class FakeArm:
    """Routes for one aiohttp app. `base_url` (set by the server once it listens) is used to
    build the absolute polling URLs ARM returns."""

    def __init__(self, issuer: TokenIssuer, identity_header: str, retry_after: float = 1.0):
        self.issuer = issuer
        self.identity_header = identity_header
        self.retry_after = retry_after
        self.clusters: dict[tuple[str, str, str], FakeCluster] = {}
        self.base_url = ""
        self.requests: list[tuple[str, str]] = []  # (method, path) log for tests
        self.token_error: str | None = None  # make the token endpoint refuse (e.g. an expired login)

    def add_cluster(self, cluster: FakeCluster) -> FakeCluster:
        self.clusters[(cluster.subscription.lower(), cluster.resource_group.lower(), cluster.name.lower())] = cluster
        return cluster

    def routes(self) -> list[web.RouteDef]:
        base = "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ContainerService/managedClusters/{name}"
        return [
            web.get("/msi/token", self.token),
            web.get(base, self.get_cluster),
            web.post(base + "/stop", self.stop),
            web.post(base + "/start", self.start),
            web.post(base + "/listClusterUserCredential", self.user_credential),
            web.get("/subscriptions/{sub}/providers/Microsoft.ContainerService/locations/{loc}/operations/{op}", self.async_operation),
            web.get("/subscriptions/{sub}/providers/Microsoft.ContainerService/locations/{loc}/operationresults/{op}", self.operation_result),
        ]

    # -- managed identity (App Service protocol: IDENTITY_ENDPOINT + IDENTITY_HEADER) --------
    async def token(self, request: web.Request) -> web.Response:
        if request.headers.get("X-IDENTITY-HEADER") != self.identity_header:
            return web.json_response({"error": "invalid_request", "error_description": "X-IDENTITY-HEADER is missing or wrong"}, status=401)
        if self.token_error:
            return web.json_response({"error": "invalid_grant", "error_description": self.token_error}, status=400)
        resource = request.query.get("resource", "")
        if not resource:
            return web.json_response({"error": "invalid_request", "error_description": "resource is required"}, status=400)
        token, exp = self.issuer.issue(resource)
        return web.json_response({"access_token": token, "expires_on": str(exp), "resource": resource, "token_type": "Bearer", "client_id": "00000000-0000-0000-0000-00000000f4ce"})

    # -- ARM ------------------------------------------------------------------------------
    def _auth(self, request: web.Request) -> web.Response | None:
        verdict = self.issuer.verify(request.headers.get("Authorization"), ARM_AUDIENCE)
        if verdict.ok:
            return None
        challenge = f'Bearer authorization_uri="https://login.windows.net/", error="invalid_token", error_description="{verdict.message}"'
        return arm_error(401, verdict.code, verdict.message, {"WWW-Authenticate": challenge})

    def _cluster(self, request: web.Request) -> FakeCluster | web.Response:
        m = request.match_info
        if "api-version" not in request.query:
            return arm_error(400, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests.")
        cluster = self.clusters.get((m["sub"].lower(), m["rg"].lower(), m["name"].lower()))
        if cluster is None:
            return arm_error(404, "ResourceNotFound", f"The Resource 'Microsoft.ContainerService/managedClusters/{m['name']}' under resource group '{m['rg']}' was not found.")
        return cluster

    async def get_cluster(self, request: web.Request) -> web.Response:
        self.requests.append((request.method, request.path))
        denied = self._auth(request)
        if denied:
            return denied
        cluster = self._cluster(request)
        if isinstance(cluster, web.Response):
            return cluster
        return web.json_response(cluster.resource())

    async def stop(self, request: web.Request) -> web.Response:
        return await self._transition(request, "stop")

    async def start(self, request: web.Request) -> web.Response:
        return await self._transition(request, "start")

    async def _transition(self, request: web.Request, action: str) -> web.Response:
        self.requests.append((request.method, request.path))
        denied = self._auth(request)
        if denied:
            return denied
        cluster = self._cluster(request)
        if isinstance(cluster, web.Response):
            return cluster
        if cluster.operation is not None and cluster.operation.status == "InProgress":
            running = "Stopping" if cluster.operation.action == "stop" else "Starting"
            return arm_error(409, "OperationNotAllowed",
                             f"Operation is not allowed because there's an in progress {cluster.operation.action} managed cluster operation ({running}) on the managed cluster. Please wait for it to finish before starting a new operation.")
        if action == "stop" and cluster.node_provisioning_mode == "Auto":
            return arm_error(400, "OperationNotAllowed",
                             "Unable to perform 'stopping' operation since the cluster enables .properties.nodeProvisioningProfile.mode 'Auto'")
        target = "Stopped" if action == "stop" else "Running"
        if cluster.power_state == target:
            # AKS accepts it and finishes immediately; the tool's pre-check normally avoids this
            return web.Response(status=204)
        op = Operation(id=str(uuid.uuid4()), action=action, started=time.monotonic(), start_iso=_now_iso())
        cluster.operation = op
        cluster.operations[op.id] = op
        cluster.last_modified_at = op.start_iso
        cluster.provisioning_state = "Stopping" if action == "stop" else "Starting"
        asyncio.get_running_loop().create_task(self._run(cluster, op))
        sub = request.match_info["sub"]
        api = request.query["api-version"]
        async_url = f"{self.base_url}/subscriptions/{sub}/providers/Microsoft.ContainerService/locations/{cluster.location}/operations/{op.id}?api-version={api}"
        location = f"{self.base_url}/subscriptions/{sub}/providers/Microsoft.ContainerService/locations/{cluster.location}/operationresults/{op.id}?api-version={api}"
        return web.Response(status=202, headers={"Azure-AsyncOperation": async_url, "Location": location, **_retry(self.retry_after)})

    async def _run(self, cluster: FakeCluster, op: Operation) -> None:
        hook = cluster.on_stop if op.action == "stop" else cluster.on_start
        try:
            if op.action == "start" and cluster.move_address_on_start:
                if cluster.on_move is not None:
                    await asyncio.get_running_loop().run_in_executor(None, cluster.on_move)
                cluster.fqdn_suffix = uuid.uuid4().hex[:6]
            if hook is not None:
                await asyncio.get_running_loop().run_in_executor(None, hook)
            remaining = cluster.duration - (time.monotonic() - op.started)
            if remaining > 0:
                await asyncio.sleep(remaining)
        except Exception as exc:  # noqa: BLE001 - a failed hook is a failed ARM operation
            op.status, op.error, op.end_iso = "Failed", f"{type(exc).__name__}: {exc}", _now_iso()
            cluster.provisioning_state = "Failed"
            return
        cluster.power_state = "Stopped" if op.action == "stop" else "Running"
        cluster.provisioning_state = "Succeeded"
        op.status, op.end_iso = "Succeeded", _now_iso()

    def _find_op(self, op_id: str) -> tuple[FakeCluster, Operation] | None:
        for cluster in self.clusters.values():
            if op_id in cluster.operations:
                return cluster, cluster.operations[op_id]
        return None

    async def async_operation(self, request: web.Request) -> web.Response:
        self.requests.append((request.method, request.path))
        denied = self._auth(request)
        if denied:
            return denied
        found = self._find_op(request.match_info["op"])
        if found is None:
            return arm_error(404, "NotFound", "Operation not found.")
        _, op = found
        body: dict = {"name": op.id, "status": op.status, "startTime": op.start_iso}
        headers = {}
        if op.status == "InProgress":
            headers.update(_retry(self.retry_after))
        else:
            body["endTime"] = op.end_iso
        if op.error:
            body["error"] = {"code": "ReconcileError", "message": op.error}
        return web.json_response(body, headers=headers)

    async def operation_result(self, request: web.Request) -> web.Response:
        self.requests.append((request.method, request.path))
        denied = self._auth(request)
        if denied:
            return denied
        found = self._find_op(request.match_info["op"])
        if found is None:
            return arm_error(404, "NotFound", "Operation not found.")
        _, op = found
        if op.status == "InProgress":
            return web.Response(status=202, headers={"Location": str(request.url), **_retry(self.retry_after)})
        if op.status == "Failed":
            return arm_error(500, "ReconcileError", op.error or "operation failed")
        return web.Response(status=204)

    async def user_credential(self, request: web.Request) -> web.Response:
        self.requests.append((request.method, request.path))
        denied = self._auth(request)
        if denied:
            return denied
        cluster = self._cluster(request)
        if isinstance(cluster, web.Response):
            return cluster
        source = cluster.kubeconfig() if callable(cluster.kubeconfig) else cluster.kubeconfig
        if not source:
            return arm_error(404, "NotFound", "No kubeconfig is available for this cluster.")
        value = base64.b64encode(source if isinstance(source, bytes) else source.encode()).decode()
        return web.json_response({"kubeconfigs": [{"name": "clusterUser", "value": value}]})


def _retry(seconds: float) -> dict[str, str]:
    """ARM sends whole seconds in Retry-After (the SDK parses it as int); sub-second delays, used
    to keep tests fast, go in retry-after-ms, which azure-core's pollers also honour."""
    if float(seconds).is_integer():
        return {"Retry-After": str(int(seconds))}
    return {"retry-after-ms": str(int(seconds * 1000))}

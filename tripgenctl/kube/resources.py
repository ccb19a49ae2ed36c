"""Any kind of object, addressed by (apiVersion, kind, namespace, name), as plain dicts: the
Kubernetes door's generic half. Ops call these instead of writing REST paths and comparing HTTP
statuses: a missing object is an answer (None, False, []) where the question allows one, and
every other HTTP error is one of kube/errors.py's typed errors (NotFound, Conflict, Forbidden,
Unavailable, KubeError) with the wording kubectl users know.

Built-in kinds have fixed paths (below), so reading them costs no discovery call (doctor's
snapshot reads nine collections at once and must make a fixed number of calls); any other kind
is found by discovery (Kube.resource_path, cached per group/version).

Small typed views for the callers that need one: Node (Ready, schedulable, allocatable),
ProxyAnswer (an app's own HTTP answer through the API server's proxy), Listing (items and the
resourceVersion a watch starts from)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping

from tripgenctl import quantity
from tripgenctl.errors import ToolError
from tripgenctl.kube.errors import Conflict, KubeError, NotFound, Unavailable, body_message, for_status

FIELD_MANAGER = "tripgenctl"
PATCH_TYPES = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
}

# (apiVersion, kind) -> (plural, namespaced): kinds every conformant API server serves at these paths
BUILTIN: dict[tuple[str, str], tuple[str, bool]] = {
    ("v1", "Namespace"): ("namespaces", False),
    ("v1", "Node"): ("nodes", False),
    ("v1", "PersistentVolume"): ("persistentvolumes", False),
    ("v1", "Pod"): ("pods", True),
    ("v1", "Event"): ("events", True),
    ("v1", "PersistentVolumeClaim"): ("persistentvolumeclaims", True),
    ("v1", "Secret"): ("secrets", True),
    ("v1", "ConfigMap"): ("configmaps", True),
    ("v1", "Service"): ("services", True),
    ("v1", "ServiceAccount"): ("serviceaccounts", True),
    ("apps/v1", "Deployment"): ("deployments", True),
    ("apps/v1", "StatefulSet"): ("statefulsets", True),
    ("batch/v1", "Job"): ("jobs", True),
    ("batch/v1", "CronJob"): ("cronjobs", True),
    ("networking.k8s.io/v1", "NetworkPolicy"): ("networkpolicies", True),
    ("rbac.authorization.k8s.io/v1", "Role"): ("roles", True),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): ("rolebindings", True),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): ("clusterroles", False),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): ("clusterrolebindings", False),
    # served only where metrics-server runs: a 404 there means "no usage figures", see optional_items
    ("metrics.k8s.io/v1beta1", "PodMetrics"): ("pods", True),
    ("metrics.k8s.io/v1beta1", "NodeMetrics"): ("nodes", False),
}


class AlreadyExists(Conflict):
    """create() of a name that is taken: often an answer (someone else created it first)."""


# ---- addressing ------------------------------------------------------------------------------

def _group_base(api_version: str) -> str:
    return f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"


def path(kube, api_version: str, kind: str, namespace: str | None = None, name: str | None = None, *,
         all_namespaces: bool = False) -> str:
    """The REST path of a collection (name None) or of one object. A namespaced kind without a
    namespace is in the Kube's own; all_namespaces lists it across every namespace."""
    known = BUILTIN.get((api_version, kind))
    if known is None:
        found = kube.resource_path(api_version, kind, namespace or kube.namespace, name)
        if all_namespaces:  # discovery put the namespace in: take it out again
            found = found.replace(f"/namespaces/{namespace or kube.namespace}/", "/", 1)
        return found
    plural, namespaced = known
    base = _group_base(api_version)
    collection = f"{base}/namespaces/{namespace or kube.namespace}/{plural}" if namespaced and not all_namespaces else f"{base}/{plural}"
    return f"{collection}/{name}" if name else collection


def proxy_path(namespace: str, via: str, target: str) -> str:
    """The API server's proxy to a Service or a pod (`via` is services/<name>:<port> or
    pods/<name>:<port>): also what `kubectl get --raw` takes, for the hints doctor prints."""
    return f"/api/v1/namespaces/{namespace}/{via}/proxy/{target.lstrip('/')}"


def selector_text(selector: str | Mapping[str, str] | None) -> str | None:
    """A label selector as the API takes it: "k=v,k2" stays, {"k": "v"} becomes "k=v"."""
    if selector is None or isinstance(selector, str):
        return selector or None
    return ",".join(f"{k}={v}" for k, v in selector.items()) or None


def _what(verb: str, kind: str, name: str | None = None) -> str:
    return f"{verb} {kind.lower()}/{name}" if name else f"{verb} {kind.lower()}s"


# ---- requests: typed errors, with the API's own message kept --------------------------------

def _send(kube, method: str, where: str, body: Any = None, *, what: str, missing_ok: bool = False,
          content_type: str = "application/json", query: dict | None = None) -> Any:
    """One request; the answer's body, None for a 404 with missing_ok, else the typed error of
    its status, carrying the API's message alone as `api_message` (see reason())."""
    status, answer = kube.request_json(method, where, body, content_type=content_type, query=query, what=what)
    if missing_ok and status == 404:
        return None
    error = for_status(status, answer, what)
    if error is not None:
        error.api_message = body_message(answer)
        raise error
    return answer


def api_message(exc: BaseException) -> str:
    """The API server's own message in a door error's answer ("" when it had none)."""
    return getattr(exc, "api_message", None) or ""


def reason(exc: BaseException) -> str:
    """The API server's own message of a door error, else the error's whole line."""
    return api_message(exc) or getattr(exc, "message", None) or str(exc)


def http_status(exc: BaseException) -> int | None:
    """The HTTP status the API server answered with, or None when it gave no answer at all
    (unreachable, a timeout) or the error is not the door's."""
    if isinstance(exc, (KubeError, Unavailable)) and getattr(exc, "status", 0):
        return exc.status
    return None


# ---- generic operations -----------------------------------------------------------------------

def get(kube, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict | None:
    """The object, or None when it does not exist."""
    return _send(kube, "GET", path(kube, api_version, kind, namespace, name), what=_what("get", kind, name), missing_ok=True)


def exists(kube, api_version: str, kind: str, name: str, namespace: str | None = None) -> bool | None:
    """True / False, or None when the server would not say (forbidden, a server error)."""
    try:
        return get(kube, api_version, kind, name, namespace) is not None
    except (KubeError, Unavailable) as exc:
        if http_status(exc) is None:
            raise
        return None


@dataclass
class Listing:
    items: list[dict]
    resource_version: str = ""  # where a watch of the same collection starts


def listing(kube, api_version: str, kind: str, namespace: str | None = None, selector: str | Mapping[str, str] | None = None, *,
            all_namespaces: bool = False, missing_ok: bool = False, what: str | None = None) -> Listing:
    """The collection's items (with a label selector); with missing_ok a collection whose
    namespace does not exist is empty instead of a NotFound."""
    sel = selector_text(selector)
    body = _send(kube, "GET", path(kube, api_version, kind, namespace, all_namespaces=all_namespaces),
                 what=what or _what("list", kind), missing_ok=missing_ok, query={"labelSelector": sel} if sel else None)
    if not isinstance(body, dict):
        return Listing([])
    return Listing(list(body.get("items") or []), str((body.get("metadata") or {}).get("resourceVersion") or ""))


def items(kube, api_version: str, kind: str, namespace: str | None = None, selector: str | Mapping[str, str] | None = None, *,
          all_namespaces: bool = False, missing_ok: bool = False, what: str | None = None) -> list[dict]:
    return listing(kube, api_version, kind, namespace, selector, all_namespaces=all_namespaces, missing_ok=missing_ok, what=what).items


def create(kube, obj: dict, what: str | None = None) -> dict:
    """POST; a taken name raises AlreadyExists (a Conflict) for the caller to treat as an answer."""
    meta = obj["metadata"]
    what = what or _what("create", obj["kind"], meta.get("name"))
    try:
        return _send(kube, "POST", path(kube, obj["apiVersion"], obj["kind"], meta.get("namespace")), obj, what=what,
                     query={"fieldManager": FIELD_MANAGER})
    except Conflict as exc:
        taken = AlreadyExists(exc.message)
        taken.api_message = reason(exc)
        raise taken from None


def apply(kube, obj: dict, dry_run: bool = False, force: bool = True) -> dict:
    """Server-side apply, field manager tripgenctl (`force` takes over fields changed by hand)."""
    return kube.apply_object(obj, force=force, dry_run=dry_run)


def replace(kube, obj: dict) -> dict:
    """PUT with the object's resourceVersion: a concurrent change is a Conflict, not lost."""
    return kube.replace_object(obj)


def patch(kube, api_version: str, kind: str, name: str, change: Any, namespace: str | None = None, type: str = "merge",
          what: str | None = None) -> dict:
    """PATCH with a merge (RFC 7386), strategic-merge or JSON (RFC 6902) patch."""
    if type not in PATCH_TYPES:
        raise ValueError(f"patch type {type!r}: one of {', '.join(PATCH_TYPES)}")
    return _send(kube, "PATCH", path(kube, api_version, kind, namespace, name), change, what=what or _what("patch", kind, name),
                 content_type=PATCH_TYPES[type])


def delete(kube, api_version: str, kind: str, name: str, namespace: str | None = None, *, propagation: str | None = "Background",
           uid: str | None = None, what: str | None = None) -> bool:
    """True: deleted (or deletion started); False: it was already gone. With `uid` only that very
    object: one replaced meanwhile by another of the same name is a Conflict."""
    body: dict[str, Any] | None = None
    if propagation or uid:
        body = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if propagation:
            body["propagationPolicy"] = propagation
        if uid:
            body["preconditions"] = {"uid": uid}
    try:
        _send(kube, "DELETE", path(kube, api_version, kind, namespace, name), body, what=what or _what("delete", kind, name))
    except NotFound:
        return False
    return True


def watch(kube, api_version: str, kind: str, namespace: str | None = None, resource_version: str | None = None,
          timeout_seconds: int = 60, stop: Callable[[], bool] | None = None) -> Iterator[tuple[str, dict]]:
    """(type, object) events of the collection from resource_version until the server ends the
    watch; the caller lists again and re-watches (an ERROR event: 410 Gone and friends)."""
    return kube.watch_json(path(kube, api_version, kind, namespace), resource_version=resource_version,
                           timeout_seconds=timeout_seconds, stop=stop)


def wait_gone(kube, api_version: str, kind: str, name: str, namespace: str | None = None, timeout: float = 120.0) -> bool:
    """True once the object no longer exists (a list, then a watch of the collection until its
    DELETED event), False when `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    while True:
        listed = listing(kube, api_version, kind, namespace)
        if not any((o.get("metadata") or {}).get("name") == name for o in listed.items):
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        for type_, obj in watch(kube, api_version, kind, namespace, listed.resource_version, max(1, math.ceil(min(left, 30)))):
            if type_ == "ERROR":
                break  # list again
            if type_ == "DELETED" and (obj.get("metadata") or {}).get("name") == name:
                return True
            if time.monotonic() >= deadline:
                return False


def preferred_version(kube, group: str) -> str | None:
    """The group's preferred group/version ("v1" for the core group), None when the cluster does
    not serve the group (any more)."""
    if not group:
        return "v1"
    body = _send(kube, "GET", f"/apis/{group}", what=f"discover {group}", missing_ok=True)
    if not isinstance(body, dict):
        return None
    return ((body.get("preferredVersion") or {}).get("groupVersion")) or None


def served(kube, api_version: str, kind: str) -> bool:
    """Does the cluster serve this kind in this group/version? (An unreachable server raises.)"""
    from tripgenctl.errors import ConnectionFailed
    from tripgenctl.kube.errors import Timeout

    try:
        path(kube, api_version, kind)
    except (ConnectionFailed, Timeout):
        raise
    except ToolError:
        return False
    return True


# ---- ConfigMap data -----------------------------------------------------------------------------

def config_map_data(kube, name: str, namespace: str | None = None) -> dict[str, str] | None:
    """A ConfigMap's data, None when there is no such ConfigMap."""
    cm = get(kube, "v1", "ConfigMap", name, namespace)
    return None if cm is None else dict(cm.get("data") or {})


# ---- Events (the safety contract's trail) ---------------------------------------------------------

def create_event(kube, namespace: str, event: dict) -> dict:
    return _send(kube, "POST", path(kube, "v1", "Event", namespace), event, what="event")


def events(kube, namespace: str | None = None) -> list[dict]:
    return items(kube, "v1", "Event", namespace)


# ---- Nodes ---------------------------------------------------------------------------------------

@dataclass
class Node:
    """What the scheduler weighs of a node: Ready, schedulable, allocatable CPU and memory."""

    name: str
    ready: bool
    schedulable: bool
    cpu_millis: float
    memory_bytes: float
    raw: dict = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, obj: dict) -> "Node":
        status = obj.get("status") or {}
        alloc = status.get("allocatable") or {}
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
        return cls((obj.get("metadata") or {}).get("name", ""), ready, not (obj.get("spec") or {}).get("unschedulable"),
                   quantity.cpu_millis(alloc.get("cpu")), quantity.parse(alloc.get("memory")), obj)


def nodes(kube) -> list[Node]:
    return [Node.of(n) for n in items(kube, "v1", "Node")]


def stats_path(node: str) -> str:
    """Where the API server proxies a node's kubelet stats summary (also for `kubectl get --raw`)."""
    return f"/api/v1/nodes/{node}/proxy/stats/summary"


def node_stats(kube, node: str) -> dict | None:
    """The kubelet's stats summary of a node through the API server, None when it cannot be had."""
    try:
        body = _send(kube, "GET", stats_path(node), what=f"stats of node {node}", missing_ok=True)
    except ToolError:
        return None
    return body if isinstance(body, dict) else None


def optional_items(kube, api_version: str, kind: str, namespace: str | None = None, label: str | None = None) -> tuple[list[dict] | None, str]:
    """(items, "") of a collection an add-on serves (metrics.k8s.io), or (None, why not)."""
    label = label or api_version.split("/")[0]
    try:
        status, body = kube.request_json("GET", path(kube, api_version, kind, namespace))
    except ToolError as exc:
        return None, f"{label} unavailable: {exc.message}"
    if status != 200 or not isinstance(body, dict):
        msg = body.get("message") if isinstance(body, dict) else ""
        return None, f"{label} unavailable ({status}{': ' + msg if msg else ''})"
    return list(body.get("items") or []), ""


# ---- pods' logs and the API server's proxy --------------------------------------------------------

def log_tail(kube, pod: str, container: str | None = None, lines: int = 5, previous: bool = False, namespace: str | None = None) -> str | None:
    """The last `lines` lines of a container's log (the previous instance's with `previous`),
    None when there is none to read (no previous instance, no such pod, no right to read it)."""
    query: dict[str, str] = {"tailLines": str(lines)}
    if container:
        query["container"] = container
    if previous:
        query["previous"] = "true"
    try:
        status, body = kube.request_json("GET", f"{path(kube, 'v1', 'Pod', namespace, pod)}/log", query=query)
    except ToolError:
        return None
    return body if status == 200 and isinstance(body, str) else None


@dataclass
class ProxyAnswer:
    """An application's own HTTP answer through the API server's proxy. `code` 0: no answer
    (the request failed before the app could answer; `body` says why)."""

    code: int
    body: Any

    @property
    def ok(self) -> bool:
        return self.code == 200


def proxy_get(kube, via: str, target: str, namespace: str | None = None) -> ProxyAnswer:
    """GET `target` of a Service or pod (`via`: services/<name>:<port> or pods/<name>:<port>)."""
    try:
        status, body = kube.request_json("GET", proxy_path(namespace or kube.namespace, via, target))
    except ToolError as exc:
        return ProxyAnswer(0, {"error": exc.message})
    return ProxyAnswer(status, body)

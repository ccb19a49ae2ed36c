"""The resource types the sandbox serves. One row per type; discovery, routing, the store's
keys and kubectl's short names all come from this table."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ResourceType:
    group: str  # "" for core
    version: str
    kind: str
    plural: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
    categories: tuple[str, ...] = ()
    has_status: bool = False
    custom: bool = False  # served from a CustomResourceDefinition (apiserver/crd.py)
    singular_name: str = ""  # a CRD's spec.names.singular; built-in kinds: the lower-case kind

    @property
    def key(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.singular_name or self.kind.lower()

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"


ALL = ("all",)
RO = ("get", "list", "watch")
CREATE = ("create",)

TYPES: list[ResourceType] = [
    ResourceType("", "v1", "Namespace", "namespaces", False, ("ns",), ("status",), has_status=True),
    ResourceType("", "v1", "Node", "nodes", False, ("no",), ("status", "proxy"), has_status=True),
    ResourceType("", "v1", "Pod", "pods", True, ("po",), ("status", "log", "exec", "portforward", "attach", "eviction", "proxy"), categories=ALL, has_status=True),
    ResourceType("", "v1", "Service", "services", True, ("svc",), ("status", "proxy"), categories=ALL, has_status=True),
    ResourceType("", "v1", "Endpoints", "endpoints", True, ("ep",)),
    ResourceType("", "v1", "ConfigMap", "configmaps", True, ("cm",)),
    ResourceType("", "v1", "Secret", "secrets", True),
    ResourceType("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", True, ("pvc",), ("status",), has_status=True),
    ResourceType("", "v1", "PersistentVolume", "persistentvolumes", False, ("pv",), ("status",), has_status=True),
    ResourceType("", "v1", "Event", "events", True, ("ev",)),
    ResourceType("", "v1", "ServiceAccount", "serviceaccounts", True, ("sa",), ("token",)),
    ResourceType("", "v1", "ResourceQuota", "resourcequotas", True, ("quota",), ("status",), has_status=True),
    ResourceType("", "v1", "LimitRange", "limitranges", True, ("limits",)),
    ResourceType("", "v1", "ReplicationController", "replicationcontrollers", True, ("rc",), ("status", "scale"), categories=ALL, has_status=True),
    ResourceType("", "v1", "PodTemplate", "podtemplates", True),
    ResourceType("apps", "v1", "DaemonSet", "daemonsets", True, ("ds",), ("status",), categories=ALL, has_status=True),
    ResourceType("apps", "v1", "ControllerRevision", "controllerrevisions", True),
    ResourceType("apps", "v1", "Deployment", "deployments", True, ("deploy",), ("status", "scale"), categories=ALL, has_status=True),
    ResourceType("apps", "v1", "ReplicaSet", "replicasets", True, ("rs",), ("status", "scale"), categories=ALL, has_status=True),
    ResourceType("apps", "v1", "StatefulSet", "statefulsets", True, ("sts",), ("status", "scale"), categories=ALL, has_status=True),
    ResourceType("batch", "v1", "Job", "jobs", True, (), ("status",), categories=ALL, has_status=True),
    ResourceType("batch", "v1", "CronJob", "cronjobs", True, ("cj",), ("status",), categories=ALL, has_status=True),
    # served and stored only (no autoscaling controller): tripgenctl's down/up hold and restore them
    ResourceType("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True, ("hpa",), ("status",), categories=ALL, has_status=True),
    ResourceType("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", True, ("netpol",)),
    ResourceType("networking.k8s.io", "v1", "Ingress", "ingresses", True, ("ing",), ("status",), has_status=True),
    ResourceType("networking.k8s.io", "v1", "IngressClass", "ingressclasses", False),
    ResourceType("coordination.k8s.io", "v1", "Lease", "leases", True),
    ResourceType("rbac.authorization.k8s.io", "v1", "Role", "roles", True),
    ResourceType("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", True),
    ResourceType("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False),
    ResourceType("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False),
    ResourceType("storage.k8s.io", "v1", "StorageClass", "storageclasses", False, ("sc",)),
    ResourceType("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", False, ("crd", "crds"), ("status",), categories=("api-extensions",), has_status=True),
    ResourceType("storage.k8s.io", "v1", "CSIDriver", "csidrivers", False),
    ResourceType("storage.k8s.io", "v1", "CSINode", "csinodes", False),
    ResourceType("storage.k8s.io", "v1", "CSIStorageCapacity", "csistoragecapacities", True),
    ResourceType("storage.k8s.io", "v1", "VolumeAttachment", "volumeattachments", False, (), ("status",), has_status=True),
    ResourceType("certificates.k8s.io", "v1", "CertificateSigningRequest", "certificatesigningrequests", False, ("csr",), ("approval", "status"), has_status=True),
    ResourceType("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True, ("hpa",), ("status",), categories=ALL, has_status=True),
    ResourceType("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", False, ("pc",)),
    ResourceType("node.k8s.io", "v1", "RuntimeClass", "runtimeclasses", False),
    ResourceType("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration", "mutatingwebhookconfigurations", False, categories=("api-extensions",)),
    ResourceType("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration", "validatingwebhookconfigurations", False, categories=("api-extensions",)),
    ResourceType("apiregistration.k8s.io", "v1", "APIService", "apiservices", False, (), ("status",), categories=("api-extensions",), has_status=True),
    ResourceType("flowcontrol.apiserver.k8s.io", "v1", "FlowSchema", "flowschemas", False, (), ("status",), has_status=True),
    ResourceType("flowcontrol.apiserver.k8s.io", "v1", "PriorityLevelConfiguration", "prioritylevelconfigurations", False, (), ("status",), has_status=True),
    ResourceType("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", True, ("pdb",), ("status",), has_status=True),
    ResourceType("events.k8s.io", "v1", "Event", "events", True, ("ev",)),
    ResourceType("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", True, (), verbs=RO),
    ResourceType("authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews", False, verbs=CREATE),
    ResourceType("authorization.k8s.io", "v1", "SelfSubjectRulesReview", "selfsubjectrulesreviews", False, verbs=CREATE),
    ResourceType("authorization.k8s.io", "v1", "SubjectAccessReview", "subjectaccessreviews", False, verbs=CREATE),
    ResourceType("authorization.k8s.io", "v1", "LocalSubjectAccessReview", "localsubjectaccessreviews", True, verbs=CREATE),
    ResourceType("authentication.k8s.io", "v1", "SelfSubjectReview", "selfsubjectreviews", False, verbs=CREATE),
    ResourceType("authentication.k8s.io", "v1", "TokenReview", "tokenreviews", False, verbs=CREATE),
    ResourceType("metrics.k8s.io", "v1beta1", "PodMetrics", "pods", True, (), verbs=RO),
    ResourceType("metrics.k8s.io", "v1beta1", "NodeMetrics", "nodes", False, (), verbs=RO),
]

BY_KEY: dict[str, ResourceType] = {t.key: t for t in TYPES}
# (group, version, plural) -> type
BY_PATH: dict[tuple[str, str, str], ResourceType] = {(t.group, t.version, t.plural): t for t in TYPES}
BY_KIND: dict[tuple[str, str], ResourceType] = {(t.api_version, t.kind): t for t in TYPES}

# Types whose objects live in the store. events.k8s.io/v1 Events are a view over core Events,
# discovery.k8s.io/v1 EndpointSlices a view over Endpoints; metrics are computed on request;
# the authorization/authentication reviews are answered, never stored.
VIEWS = ("metrics.k8s.io", "events.k8s.io", "discovery.k8s.io", "authorization.k8s.io", "authentication.k8s.io")
STORED = [t for t in TYPES if t.group not in VIEWS]


def for_object(obj: dict) -> ResourceType:
    t = BY_KIND.get((obj.get("apiVersion", ""), obj.get("kind", "")))
    if t is None:
        raise KeyError(f"no resource type for {obj.get('apiVersion')}/{obj.get('kind')}")
    return t


def register(types: list[ResourceType], storage: ResourceType) -> None:
    """Serve a custom resource's versions (in discovery's order: by version priority), replacing
    what an earlier version of its CRD registered; the store keeps objects in `storage`'s version.
    Called by apiserver/crd.py."""
    unregister(storage.key)
    TYPES.extend(types)
    STORED.append(storage)
    BY_KEY[storage.key] = storage
    for t in types:
        BY_PATH[(t.group, t.version, t.plural)] = t
        BY_KIND[(t.api_version, t.kind)] = t


def unregister(key: str) -> None:
    gone = [t for t in TYPES if t.key == key and t.custom]
    if not gone:
        return
    TYPES[:] = [t for t in TYPES if t not in gone]
    STORED[:] = [t for t in STORED if t not in gone]
    BY_KEY.pop(key, None)
    for t in gone:
        BY_PATH.pop((t.group, t.version, t.plural), None)
        BY_KIND.pop((t.api_version, t.kind), None)


def groups() -> dict[str, list[str]]:
    """group -> versions served (preferred first)."""
    out: dict[str, list[str]] = {}
    for t in TYPES:
        if t.group:
            out.setdefault(t.group, [])
            if t.version not in out[t.group]:
                out[t.group].append(t.version)
    return out

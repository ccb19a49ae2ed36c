"""Defaulting and the few validations clients depend on, applied on create/update like the
API server's registry strategies (so `kubectl get -o yaml` and diffs see the same defaults as
on a real cluster)."""

from __future__ import annotations

import base64


def _container(c: dict) -> None:
    image = c.get("image", "")
    tag = image.rsplit("/", 1)[-1]
    latest = ":" not in tag or tag.endswith(":latest")
    if "@" in image:
        latest = False
    c.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    c.setdefault("resources", {})
    for p in c.get("ports") or []:
        p.setdefault("protocol", "TCP")
    for probe_name in ("readinessProbe", "livenessProbe", "startupProbe"):
        probe = c.get(probe_name)
        if probe:
            probe.setdefault("timeoutSeconds", 1)
            probe.setdefault("periodSeconds", 10)
            probe.setdefault("successThreshold", 1)
            probe.setdefault("failureThreshold", 3)
            if "httpGet" in probe:
                probe["httpGet"].setdefault("scheme", "HTTP")
                probe["httpGet"].setdefault("path", "/")


def pod_spec(spec: dict, restart_policy: str = "Always") -> None:
    spec.setdefault("restartPolicy", restart_policy)
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        _container(c)
    for v in spec.get("volumes") or []:
        for kind in ("configMap", "secret"):
            if kind in v:
                v[kind].setdefault("defaultMode", 420)


SA_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
DEFAULT_TOLERATIONS = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")
# the built-in PriorityClasses (scheduling.k8s.io): the Priority admission resolves names to values
SYSTEM_PRIORITIES = {"system-cluster-critical": 2000000000, "system-node-critical": 2000001000}
_SAFE = "bcdfghjklmnpqrstvwxz2456789"
# (namespace, name) -> ServiceAccount or None; set by the API server so the admission can read
# the ServiceAccount's automountServiceAccountToken (unset: treated as true)
SERVICE_ACCOUNTS = None


def set_service_account_lookup(fn) -> None:
    global SERVICE_ACCOUNTS
    SERVICE_ACCOUNTS = fn


def admit_pod(pod: dict) -> None:
    """What the 1.29 admission chain adds to every pod on create (idempotent, so later writes
    keep it): ServiceAccount (serviceAccountName default and the projected kube-api-access-*
    volume mounted in every container), DefaultTolerationSeconds (not-ready/unreachable for
    300 s), Priority (priority and preemptionPolicy), and the enableServiceLinks default."""
    import secrets

    spec = pod.setdefault("spec", {})
    sa = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    spec["serviceAccountName"] = sa
    spec["serviceAccount"] = sa
    spec.setdefault("enableServiceLinks", True)
    if "priority" not in spec:
        spec["priority"] = SYSTEM_PRIORITIES.get(spec.get("priorityClassName") or "", 0)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    tolerations = spec.setdefault("tolerations", [])
    for key in DEFAULT_TOLERATIONS:
        if not any(t.get("key") == key and t.get("effect") in ("NoExecute", None, "") for t in tolerations) and not any(
            t.get("operator") == "Exists" and not t.get("key") for t in tolerations
        ):
            tolerations.append({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300})
    automount = spec.get("automountServiceAccountToken")
    if automount is None and SERVICE_ACCOUNTS is not None:
        automount = (SERVICE_ACCOUNTS(pod.get("metadata", {}).get("namespace"), sa) or {}).get("automountServiceAccountToken")
    if automount is False:
        return
    containers = (spec.get("initContainers") or []) + (spec.get("containers") or [])
    volumes = spec.setdefault("volumes", [])
    existing = next((v["name"] for v in volumes if v.get("name", "").startswith("kube-api-access-")), None)
    if existing is None and any(vm.get("mountPath", "").rstrip("/") == SA_MOUNT for c in containers for vm in c.get("volumeMounts") or []):
        return  # the pod mounts its own token there: the plugin leaves it alone
    name = existing or "kube-api-access-" + "".join(secrets.choice(_SAFE) for _ in range(5))
    if existing is None:
        volumes.append({"name": name, "projected": {"defaultMode": 420, "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
        ]}})
    for c in containers:
        mounts = c.setdefault("volumeMounts", [])
        if not any(vm.get("mountPath", "").rstrip("/") == SA_MOUNT for vm in mounts):
            mounts.append({"name": name, "readOnly": True, "mountPath": SA_MOUNT})


def _template(obj: dict, restart_policy: str = "Always") -> None:
    tpl = obj.setdefault("spec", {}).setdefault("template", {})
    tpl.setdefault("metadata", {}).setdefault("creationTimestamp", None)
    pod_spec(tpl.setdefault("spec", {}), restart_policy)


def apply_defaults(kind: str, obj: dict) -> None:
    meta = obj.setdefault("metadata", {})
    spec = obj.get("spec")
    if kind == "Pod":
        pod_spec(obj.setdefault("spec", {}))
        admit_pod(obj)
        obj.setdefault("status", {}).setdefault("phase", "Pending")
        obj["status"].setdefault("qosClass", _qos(obj["spec"]))
    elif kind == "Deployment":
        spec = obj.setdefault("spec", {})
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        strat = spec.setdefault("strategy", {"type": "RollingUpdate"})
        if strat.get("type", "RollingUpdate") == "RollingUpdate":
            strat.setdefault("type", "RollingUpdate")
            strat.setdefault("rollingUpdate", {}).setdefault("maxUnavailable", "25%")
            strat["rollingUpdate"].setdefault("maxSurge", "25%")
        _template(obj)
    elif kind == "DaemonSet":
        spec = obj.setdefault("spec", {})
        spec.setdefault("revisionHistoryLimit", 10)
        strat = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
        if strat.get("type", "RollingUpdate") == "RollingUpdate":
            strat.setdefault("type", "RollingUpdate")
            strat.setdefault("rollingUpdate", {}).setdefault("maxUnavailable", 1)
            strat["rollingUpdate"].setdefault("maxSurge", 0)
        _template(obj)
    elif kind == "ReplicationController":
        spec = obj.setdefault("spec", {})
        spec.setdefault("replicas", 1)
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        if not spec.get("selector") and labels:
            spec["selector"] = dict(labels)
        if not meta.get("labels") and labels:
            meta["labels"] = dict(labels)
        _template(obj)
    elif kind == "PriorityClass":
        obj.setdefault("preemptionPolicy", "PreemptLowerPriority")
    elif kind == "ReplicaSet":
        obj.setdefault("spec", {}).setdefault("replicas", 1)
        _template(obj)
    elif kind == "StatefulSet":
        spec = obj.setdefault("spec", {})
        spec.setdefault("replicas", 1)
        spec.setdefault("podManagementPolicy", "OrderedReady")
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
        spec.setdefault("persistentVolumeClaimRetentionPolicy", {"whenDeleted": "Retain", "whenScaled": "Retain"})
        for t in spec.get("volumeClaimTemplates") or []:
            t.setdefault("apiVersion", "v1")
            t.setdefault("kind", "PersistentVolumeClaim")
            t.setdefault("spec", {}).setdefault("volumeMode", "Filesystem")
            t.setdefault("status", {"phase": "Pending"})
        _template(obj)
    elif kind == "Job":
        spec = obj.setdefault("spec", {})
        spec.setdefault("backoffLimit", 6)
        spec.setdefault("completions", 1)
        spec.setdefault("parallelism", 1)
        spec.setdefault("completionMode", "NonIndexed")
        spec.setdefault("suspend", False)
        _template(obj, "Never")
    elif kind == "CronJob":
        spec = obj.setdefault("spec", {})
        spec.setdefault("concurrencyPolicy", "Allow")
        spec.setdefault("suspend", False)
        spec.setdefault("successfulJobsHistoryLimit", 3)
        spec.setdefault("failedJobsHistoryLimit", 1)
        jt = spec.setdefault("jobTemplate", {})
        jt.setdefault("metadata", {}).setdefault("creationTimestamp", None)
        jspec = jt.setdefault("spec", {})
        jspec.setdefault("backoffLimit", 6)
        jspec.setdefault("completionMode", "NonIndexed")
        jspec.setdefault("suspend", False)
        tpl = jspec.setdefault("template", {})
        tpl.setdefault("metadata", {}).setdefault("creationTimestamp", None)
        pod_spec(tpl.setdefault("spec", {}), "Never")
    elif kind == "Service":
        spec = obj.setdefault("spec", {})
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
        for p in spec.get("ports") or []:
            p.setdefault("protocol", "TCP")
            p.setdefault("targetPort", p.get("port"))
        obj.setdefault("status", {"loadBalancer": {}})
    elif kind == "Namespace":
        meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta.get("name", "")
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        obj.setdefault("status", {}).setdefault("phase", "Active")
    elif kind == "PersistentVolumeClaim":
        spec = obj.setdefault("spec", {})
        spec.setdefault("volumeMode", "Filesystem")
        spec.setdefault("storageClassName", "managed-csi")
        obj.setdefault("status", {}).setdefault("phase", "Pending")
    elif kind == "Secret":
        obj.setdefault("type", "Opaque")
        string_data = obj.pop("stringData", None)
        if string_data:
            data = obj.setdefault("data", {})
            for k, v in string_data.items():
                data[k] = base64.b64encode(str(v).encode()).decode()
    elif kind == "ServiceAccount":
        pass
    elif kind == "NetworkPolicy":
        spec = obj.setdefault("spec", {})
        if "policyTypes" not in spec:
            types = ["Ingress"]
            if "egress" in spec:
                types.append("Egress")
            spec["policyTypes"] = types
        for rule in (spec.get("ingress") or []) + (spec.get("egress") or []):
            for p in rule.get("ports") or []:
                p.setdefault("protocol", "TCP")


def _qos(spec: dict) -> str:
    containers = spec.get("containers") or []
    reqs = [c.get("resources", {}) for c in containers]
    if not any(r.get("requests") or r.get("limits") for r in reqs):
        return "BestEffort"
    guaranteed = all(
        r.get("limits", {}).get("cpu") and r.get("limits", {}).get("memory")
        and r.get("requests", {}).get("cpu", r["limits"]["cpu"]) == r["limits"]["cpu"]
        and r.get("requests", {}).get("memory", r["limits"]["memory"]) == r["limits"]["memory"]
        for r in reqs
    )
    return "Guaranteed" if guaranteed else "Burstable"


def validate(kind: str, obj: dict, group: str = "") -> None:
    """Create-time validation (names, labels, required fields): see validation.validate_create."""
    from tripgen_sandbox.apiserver.validation import validate_create

    validate_create(kind, obj, group)

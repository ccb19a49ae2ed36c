"""Update validation as kube-apiserver 1.29's registry strategies do it (ValidateXUpdate in
pkg/apis/*/validation): the fields a kind forbids changing, with the real field paths and
messages, so a change that AKS refuses is refused here with the same 422 Invalid.

Values in messages are printed as Go's field.Error prints them (`%#v` of the internal type for
structs), which clients and humans grep for ("field is immutable", "Forbidden: updates to
statefulset spec ...")."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from tripgen_sandbox.apierrors import invalid

IMMUTABLE = "field is immutable"
STS_MUTABLE = ("replicas", "ordinals", "template", "updateStrategy", "persistentVolumeClaimRetentionPolicy", "minReadySeconds")
STS_FORBIDDEN = (
    "Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
    "'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
)
# what a suspended Job that never started may still change in its pod template (1.27+)
JOB_SCHEDULING_DIRECTIVES = ("nodeSelector", "tolerations", "schedulingGates", "affinity")


def _go_str(s: str) -> str:
    return json.dumps(s)


def go_label_selector(sel: dict | None) -> str:
    """%#v of a metav1.LabelSelector, as field.Invalid prints it."""
    if sel is None:
        return "null"
    ml = sel.get("matchLabels")
    if ml:
        labels = "map[string]string{" + ", ".join(f"{_go_str(k)}:{_go_str(str(v))}" for k, v in sorted(ml.items())) + "}"
    else:
        labels = "map[string]string(nil)"
    exprs = sel.get("matchExpressions")
    if exprs:
        items = []
        for e in exprs:
            values = e.get("values")
            vs = "[]string{" + ", ".join(_go_str(v) for v in values) + "}" if values else "[]string(nil)"
            items.append(f'v1.LabelSelectorRequirement{{Key:{_go_str(e.get("key", ""))}, Operator:{_go_str(e.get("operator", ""))}, Values:{vs}}}')
        ex = "[]v1.LabelSelectorRequirement{" + ", ".join(items) + "}"
    else:
        ex = "[]v1.LabelSelectorRequirement(nil)"
    return f"v1.LabelSelector{{MatchLabels:{labels}, MatchExpressions:{ex}}}"


def _immutable(path: str, printed: str) -> tuple[str, str]:
    return (path, f"Invalid value: {printed}: {IMMUTABLE}")


def _same(a: Any, b: Any) -> bool:
    """apiequality.Semantic.DeepEqual for what JSON can hold: an absent field equals an empty one."""
    return _norm(a) == _norm(b)


def _norm(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _norm(x) for k, x in v.items() if x not in (None, {}, [], "")}
    if isinstance(v, list):
        return [_norm(x) for x in v]
    return v


def _statefulset(new: dict, old: dict) -> list[tuple[str, str]]:
    ns, os_ = copy.deepcopy(new.get("spec") or {}), copy.deepcopy(old.get("spec") or {})
    for f in STS_MUTABLE:
        ns.pop(f, None)
        os_.pop(f, None)
    for s in (ns, os_):  # the server's own defaults on the claim templates are not the caller's change
        for t in s.get("volumeClaimTemplates") or []:
            t.pop("status", None)
            (t.get("metadata") or {}).pop("creationTimestamp", None)
    if not _same(ns, os_):
        return [("spec", STS_FORBIDDEN)]
    return []


def _selector(new: dict, old: dict) -> list[tuple[str, str]]:
    nsel, osel = (new.get("spec") or {}).get("selector"), (old.get("spec") or {}).get("selector")
    if not _same(nsel, osel):
        return [_immutable("spec.selector", go_label_selector(nsel))]
    return []


def _job(new: dict, old: dict) -> list[tuple[str, str]]:
    errs = _selector(new, old)
    ns, os_ = new.get("spec") or {}, old.get("spec") or {}
    nt, ot = copy.deepcopy(ns.get("template") or {}), copy.deepcopy(os_.get("template") or {})
    if ns.get("suspend") and not (old.get("status") or {}).get("startTime"):
        # a suspended Job that never started: scheduling directives, labels and annotations may change
        for t in (nt, ot):
            (t.setdefault("metadata", {})).pop("labels", None)
            t["metadata"].pop("annotations", None)
            for f in JOB_SCHEDULING_DIRECTIVES:
                (t.setdefault("spec", {})).pop(f, None)
    if not _same(nt, ot):
        errs.append(_immutable("spec.template", "core.PodTemplateSpec{...}"))
    for f in ("completionMode", "podFailurePolicy", "backoffLimitPerIndex"):
        if not _same(ns.get(f), os_.get(f)):
            printed = _go_str(ns[f]) if isinstance(ns.get(f), str) else json.dumps(ns.get(f))
            errs.append(_immutable(f"spec.{f}", printed))
    elastic = ns.get("completionMode") == "Indexed" and ns.get("completions") == ns.get("parallelism")
    if not elastic and ns.get("completions") != os_.get("completions"):
        errs.append(_immutable("spec.completions", str(ns.get("completions"))))
    return errs


def _service(new: dict, old: dict) -> list[tuple[str, str]]:
    """The primary ClusterIP may not change once set (except to or from ExternalName). An update
    that omits it keeps the allocated one, as the strategy's patchAllocatedValues does."""
    ns, os_ = new.setdefault("spec", {}), old.get("spec") or {}
    if "ExternalName" in (ns.get("type"), os_.get("type")):
        return []
    if not ns.get("clusterIP") and os_.get("clusterIP"):
        ns["clusterIP"] = os_["clusterIP"]
        if not ns.get("clusterIPs") and os_.get("clusterIPs"):
            ns["clusterIPs"] = list(os_["clusterIPs"])
    elif ns.get("clusterIP"):
        changed_single = ns["clusterIP"] != os_.get("clusterIP") and ns.get("clusterIPs") == os_.get("clusterIPs")
        if not ns.get("clusterIPs") or changed_single:
            ns["clusterIPs"] = [ns["clusterIP"]]
    old_ips, new_ips = os_.get("clusterIPs") or ([os_["clusterIP"]] if os_.get("clusterIP") else []), ns.get("clusterIPs") or []
    if old_ips and new_ips and old_ips[0] != new_ips[0]:
        printed = "[]string{" + ", ".join(_go_str(i) for i in new_ips) + "}"
        return [("spec.clusterIPs[0]", f"Invalid value: {printed}: may not change once set")]
    return []


def _pvc(new: dict, old: dict) -> list[tuple[str, str]]:
    """Only resources.requests (growth, of a bound claim) may change; binding (volumeName on an
    unbound claim) is the controller's."""
    ns, os_ = copy.deepcopy(new.get("spec") or {}), copy.deepcopy(old.get("spec") or {})
    if not os_.get("volumeName"):
        os_["volumeName"] = ns.get("volumeName")
    bound = (new.get("status") or old.get("status") or {}).get("phase") == "Bound"
    new_size = ((ns.get("resources") or {}).get("requests") or {}).get("storage")
    old_size = ((os_.get("resources") or {}).get("requests") or {}).get("storage")
    if bound and new_size is not None:
        ns.setdefault("resources", {}).setdefault("requests", {})["storage"] = old_size
    errs = []
    if not _same(ns, os_):
        diff = _diff(os_, ns, "")
        errs.append(("spec", "Forbidden: spec is immutable after creation except resources.requests for bound claims\n" + "\n".join(diff)))
    if new_size is not None and old_size is not None and _quantity(new_size) < _quantity(old_size):
        errs.append(("spec.resources.requests.storage", "Forbidden: field can not be less than previous value"))
    return errs


def _quantity(q: Any) -> float:
    from tripgenctl.quantity import parse

    try:
        return float(parse(str(q)))
    except (ValueError, TypeError):
        return 0.0


def _diff(a: Any, b: Any, path: str) -> list[str]:
    """A short cmp.Diff-like listing: `-` old, `+` new per changed field."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += _diff(a.get(k), b.get(k), f"{path}.{k}" if path else k)
        return out
    if _same(a, b):
        return []
    return [f"  {path}:", f"- \t{json.dumps(a)}", f"+ \t{json.dumps(b)}"]


UPDATE_CHECKS = {
    "StatefulSet": _statefulset,
    "Deployment": _selector,
    "ReplicaSet": _selector,
    "DaemonSet": _selector,
    "Job": _job,
    "Service": _service,
    "PersistentVolumeClaim": _pvc,
}


def validate_update(kind: str, new: dict, old: dict, group: str = "") -> None:
    """Raise 422 Invalid when `new` changes what `old`'s kind forbids changing. May complete
    `new` with what the strategy carries over (a Service's allocated ClusterIP)."""
    check = UPDATE_CHECKS.get(kind)
    if check is None:
        return
    errs = check(new, old)
    if errs:
        raise invalid(kind, new.get("metadata", {}).get("name", ""), errs, group)


# ---- create (and every write): names, required fields, label syntax -----------------------------
SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1035_RE = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
QUALIFIED_NAME_RE = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
CONFIG_KEY_RE = re.compile(r"^[-._a-zA-Z0-9]+$")

SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end "
                 "with an alphanumeric character (e.g. 'example.com', regex used for validation is "
                 "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an "
             "alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
DNS1035_MSG = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end "
               "with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")
LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end "
                   "with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is "
                   "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")
QUALIFIED_NAME_MSG = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
                      "character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
                      "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
CONFIG_KEY_MSG = ("a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or "
                  "'key-name', regex used for validation is '[-._a-zA-Z0-9]+')")

# name rules per kind (ValidateXName in 1.29): RBAC objects are path segments, Services and
# Namespaces labels, everything else a DNS subdomain
PATH_SEGMENT_KINDS = {"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"}
DNS1035_KINDS = {"Service"}
LABEL_KINDS = {"Namespace"}
FREE_NAME_KINDS = {"Event"}
TEMPLATED = {"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "ReplicationController"}


def _name_errors(kind: str, name: str) -> list[tuple[str, str]]:
    if not name or kind in FREE_NAME_KINDS:
        return []
    if kind in PATH_SEGMENT_KINDS:
        if name in (".", ".."):
            return [("metadata.name", f'Invalid value: "{name}": may not be \'{name}\'')]
        bad = next((c for c in ("/", "%") if c in name), None)
        return [("metadata.name", f'Invalid value: "{name}": may not contain \'{bad}\'')] if bad else []
    if kind in DNS1035_KINDS:
        regex, msg, limit = DNS1035_RE, DNS1035_MSG, 63
    elif kind in LABEL_KINDS:
        regex, msg, limit = LABEL_RE, LABEL_MSG, 63
    else:
        regex, msg, limit = SUBDOMAIN_RE, SUBDOMAIN_MSG, 253
    errs = []
    if len(name) > limit:
        errs.append(("metadata.name", f'Invalid value: "{name}": must be no more than {limit} characters'))
    if not regex.match(name):
        errs.append(("metadata.name", f'Invalid value: "{name}": {msg}'))
    return errs


def _label_errors(labels: Any, path: str) -> list[tuple[str, str]]:
    errs: list[tuple[str, str]] = []
    for k, v in (labels or {}).items() if isinstance(labels, dict) else ():
        prefix, _, part = k.rpartition("/")
        if prefix and (len(prefix) > 253 or not SUBDOMAIN_RE.match(prefix)):
            errs.append((path, f'Invalid value: "{k}": prefix part {SUBDOMAIN_MSG}'))
        if not part or len(part) > 63 or not QUALIFIED_NAME_RE.match(part):
            errs.append((path, f'Invalid value: "{k}": {QUALIFIED_NAME_MSG}'))
        v = "" if v is None else str(v)
        if len(v) > 63:
            errs.append((path, f'Invalid value: "{v}": must be no more than 63 characters'))
        if not LABEL_VALUE_RE.match(v):
            errs.append((path, f'Invalid value: "{v}": {LABEL_VALUE_MSG}'))
    return errs


def _go_map(d: dict) -> str:
    return "map[string]string{" + ", ".join(f"{_go_str(k)}:{_go_str(str(v))}" for k, v in sorted(d.items())) + "}"


def _pod_spec_errors(pod: dict, prefix: str, restart_policies: tuple[str, ...] = ("Always", "OnFailure", "Never")) -> list[tuple[str, str]]:
    errs: list[tuple[str, str]] = []
    containers = pod.get("containers") or []
    if not containers:
        errs.append((f"{prefix}.containers", "Required value"))
    seen: set[str] = set()
    for group in ("initContainers", "containers"):
        for i, c in enumerate(pod.get(group) or []):
            p = f"{prefix}.{group}[{i}]"
            name = c.get("name") or ""
            if not name:
                errs.append((f"{p}.name", "Required value"))
            elif not LABEL_RE.match(name) or len(name) > 63:
                errs.append((f"{p}.name", f'Invalid value: "{name}": {LABEL_MSG}'))
            elif name in seen:
                errs.append((f"{p}.name", f'Duplicate value: "{name}"'))
            seen.add(name)
            if not c.get("image"):
                errs.append((f"{p}.image", "Required value"))
            for j, port in enumerate(c.get("ports") or []):
                n = port.get("containerPort")
                if not isinstance(n, int) or not 0 < n < 65536:
                    errs.append((f"{p}.ports[{j}].containerPort", f"Invalid value: {n}: must be between 1 and 65535, inclusive" if n is not None else "Required value"))
    rp = pod.get("restartPolicy")
    if rp and rp not in restart_policies:
        quoted = ", ".join(f'"{r}"' for r in restart_policies)
        if len(restart_policies) < 3:
            errs.append((f"{prefix}.restartPolicy", f"Required value: valid values: {quoted}"))
        else:
            errs.append((f"{prefix}.restartPolicy", f'Unsupported value: "{rp}": supported values: {quoted}'))
    return errs


def validate_create(kind: str, obj: dict, group: str = "") -> None:
    """The ValidateX checks clients run into: names, label syntax, required fields."""
    meta = obj.get("metadata") or {}
    name = meta.get("name") or ""
    errs = _name_errors(kind, name)
    errs += _label_errors(meta.get("labels"), "metadata.labels")
    spec = obj.get("spec") or {}
    if kind == "Pod":
        errs += _pod_spec_errors(spec, "spec")
    elif kind in TEMPLATED:
        tpl = spec.get("template") or {}
        labels = (tpl.get("metadata") or {}).get("labels") or {}
        errs += _label_errors(labels, "spec.template.metadata.labels")
        sel = spec.get("selector")
        if kind == "ReplicationController":
            sel = {"matchLabels": sel} if isinstance(sel, dict) and sel else None
        if kind != "Job":
            if not sel:
                errs.append(("spec.selector", "Required value"))
            elif not sel.get("matchLabels") and not sel.get("matchExpressions"):
                errs.append(("spec.selector", f"Invalid value: {go_label_selector(sel)}: empty selector is invalid for deployment"))
            elif any(labels.get(k) != v for k, v in (sel.get("matchLabels") or {}).items()):
                errs.append(("spec.template.metadata.labels", f"Invalid value: {_go_map(labels)}: `selector` does not match template `labels`"))
        policies = ("OnFailure", "Never") if kind == "Job" else ("Always",) if kind in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "ReplicationController") else ("Always", "OnFailure", "Never")
        errs += _pod_spec_errors(tpl.get("spec") or {}, "spec.template.spec", policies)
        replicas = spec.get("replicas")
        if isinstance(replicas, int) and replicas < 0:
            errs.append(("spec.replicas", f"Invalid value: {replicas}: must be greater than or equal to 0"))
    elif kind == "CronJob":
        jt = (spec.get("jobTemplate") or {}).get("spec") or {}
        if not spec.get("schedule"):
            errs.append(("spec.schedule", "Required value"))
        errs += _pod_spec_errors((jt.get("template") or {}).get("spec") or {}, "spec.jobTemplate.spec.template.spec", ("OnFailure", "Never"))
        if len(name) > 52:
            errs.append(("metadata.name", f'Invalid value: "{name}": must be no more than 52 characters'))
    elif kind == "Service":
        headless = spec.get("clusterIP") == "None"
        if not spec.get("ports") and spec.get("type") != "ExternalName" and not headless:
            errs.append(("spec.ports", "Required value"))
        names: set[str] = set()
        for i, p in enumerate(spec.get("ports") or []):
            n = p.get("port")
            if not isinstance(n, int) or not 0 < n < 65536:
                errs.append((f"spec.ports[{i}].port", f"Invalid value: {n}: must be between 1 and 65535, inclusive"))
            if len(spec.get("ports")) > 1 and not p.get("name"):
                errs.append((f"spec.ports[{i}].name", "Required value"))
            if p.get("name") in names:
                errs.append((f"spec.ports[{i}].name", f'Duplicate value: "{p["name"]}"'))
            names.add(p.get("name"))
    elif kind == "PersistentVolumeClaim":
        if not spec.get("accessModes"):
            errs.append(("spec.accessModes", "Required value: at least 1 access mode is required"))
        if not ((spec.get("resources") or {}).get("requests") or {}).get("storage"):
            errs.append(("spec.resources[storage]", "Required value"))
    elif kind == "CertificateSigningRequest":
        errs += _csr_errors(spec)
    elif kind in ("ConfigMap", "Secret"):
        for field in ("data", "binaryData", "stringData"):
            for k in obj.get(field) or {}:
                if not CONFIG_KEY_RE.match(k) or len(k) > 253:
                    errs.append((f"{field}[{k}]", f'Invalid value: "{k}": {CONFIG_KEY_MSG}'))
    if errs:
        raise invalid(kind, name, errs, group)


def _csr_errors(spec: dict) -> list[tuple[str, str]]:
    """certificates.k8s.io/v1: a PEM CERTIFICATE REQUEST that parses, a signerName, usages."""
    import base64 as b64

    errs: list[tuple[str, str]] = []
    raw = spec.get("request")
    if not raw:
        errs.append(("spec.request", "Required value"))
    else:
        try:
            pem = b64.b64decode(raw)
        except ValueError:
            pem = b""
        if b"-----BEGIN CERTIFICATE REQUEST-----" not in pem:
            errs.append(("spec.request", "Invalid value: []byte{...}: PEM block type must be CERTIFICATE REQUEST"))
        else:
            from cryptography import x509

            try:
                x509.load_pem_x509_csr(pem)
            except ValueError as exc:
                errs.append(("spec.request", f"Invalid value: []byte{{...}}: {exc}"))
    if not spec.get("signerName"):
        errs.append(("spec.signerName", "Required value"))
    if not spec.get("usages"):
        errs.append(("spec.usages", "Required value"))
    return errs

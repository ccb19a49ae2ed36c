"""Label selectors (label_selector.py: apimachinery's grammar and validation) and field selectors."""

from __future__ import annotations

from typing import Any, Callable

from tripgenctl.labels import selector_matches
from tripgen_sandbox import label_selector
from tripgen_sandbox.apierrors import ApiError

Predicate = Callable[[dict], bool]

def _split_top(selector: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts, depth, cur = [], 0, []
    for ch in selector:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if cur:
        parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def parse_label_selector(selector: str | None) -> Callable[[dict[str, str]], bool]:
    return label_selector.parse(selector)


def match_label_selector_obj(selector: dict | None, labels: dict[str, str] | None) -> bool:
    """A metav1.LabelSelector (matchLabels + matchExpressions); an empty selector matches all."""
    return selector_matches(selector, labels, empty_matches=True)


def _field(obj: dict, path: str) -> Any:
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


# The field labels kube-apiserver 1.29 converts for each resource (pkg/apis/*/v1 conversion's
# AddFieldLabelConversionFunc, on top of metadata.name and metadata.namespace for every kind);
# any other label is 400 "field label not supported: <label>". Keyed by (group, plural).
FIELD_LABELS: dict[tuple[str, str], frozenset[str]] = {
    ("", "pods"): frozenset({"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
                             "spec.hostNetwork", "status.phase", "status.podIP", "status.podIPs", "status.nominatedNodeName"}),
    ("", "events"): frozenset({"involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
                               "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
                               "reason", "reportingComponent", "source", "type"}),
    ("", "nodes"): frozenset({"spec.unschedulable"}),
    ("", "namespaces"): frozenset({"status.phase"}),
    ("", "secrets"): frozenset({"type"}),
    ("", "replicationcontrollers"): frozenset({"status.replicas"}),
    ("apps", "replicasets"): frozenset({"status.replicas"}),
    ("batch", "jobs"): frozenset({"status.successful"}),
    ("certificates.k8s.io", "certificatesigningrequests"): frozenset({"spec.signerName"}),
}
EVERY_KIND = frozenset({"metadata.name", "metadata.namespace"})
FIELD_PATHS = {"source": "source.component"}  # an Event's `source` label is its source.component


def _field_terms(selector: str) -> list[tuple[str, str, str]]:
    """(label, operator, value) per term, as fields.ParseSelector splits them ('!=' before
    '==' before '='); a term without one is 400 with its message."""
    terms = []
    for term in _split_top(selector):
        for op in ("!=", "==", "="):
            if op in term:
                k, v = (x.strip() for x in term.split(op, 1))
                terms.append((k, "!=" if op == "!=" else "=", v))
                break
        else:
            raise ApiError(400, f"invalid selector: '{selector}'; can't understand '{term}'")
    return terms


def check_field_selector(group: str, plural: str, selector: str | None) -> None:
    """What the API server refuses of a request's fieldSelector for this resource."""
    if not selector:
        return
    allowed = EVERY_KIND | FIELD_LABELS.get((group, plural), frozenset())
    for label, _, _ in _field_terms(selector):
        if label not in allowed:
            raise ApiError(400, f"field label not supported: {label}")


def parse_field_selector(selector: str | None) -> Predicate:
    if not selector:
        return lambda obj: True
    tests: list[Predicate] = []
    for k, op, v in _field_terms(selector):
        k = FIELD_PATHS.get(k, k)
        if op == "!=":
            tests.append(lambda o, k=k, v=v: _str(_field(o, k)) != v)
        else:
            tests.append(lambda o, k=k, v=v: _str(_field(o, k)) == v)
    return lambda obj: all(t(obj) for t in tests)


def _str(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)

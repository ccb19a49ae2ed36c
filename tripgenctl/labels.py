"""metav1.LabelSelector matching, shared by the tool (which pods belong to a workload) and the
sandbox's controllers (which pods a ReplicaSet owns), so both read a selector the same way."""

from __future__ import annotations


def selector_matches(selector: dict | None, labels: dict[str, str] | None, empty_matches: bool = True) -> bool:
    """matchLabels and matchExpressions (In, NotIn, Exists, DoesNotExist). An empty selector
    matches everything in the API's sense (`empty_matches`); the tool passes False where an empty
    selector would wrongly claim every pod."""
    labels = labels or {}
    if not selector or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        return empty_matches
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True

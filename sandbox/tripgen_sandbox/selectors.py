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


def parse_field_selector(selector: str | None) -> Predicate:
    if not selector:
        return lambda obj: True
    tests: list[Predicate] = []
    for term in _split_top(selector):
        if "!=" in term:
            k, v = (s.strip() for s in term.split("!=", 1))
            tests.append(lambda o, k=k, v=v: _str(_field(o, k)) != v)
        elif "=" in term:
            sep = "==" if "==" in term else "="
            k, v = (s.strip() for s in term.split(sep, 1))
            tests.append(lambda o, k=k, v=v: _str(_field(o, k)) == v)
        else:
            raise ApiError(400, f"invalid field selector: {term!r}")
    return lambda obj: all(t(obj) for t in tests)


def _str(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)

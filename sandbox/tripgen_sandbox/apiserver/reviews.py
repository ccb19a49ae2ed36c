"""The "virtual" create-only resources of authorization.k8s.io/v1 and authentication.k8s.io/v1:
`kubectl auth can-i` (SelfSubjectAccessReview, and SelfSubjectRulesReview for --list),
SubjectAccessReview/LocalSubjectAccessReview (admins asking about someone else, `--as`) and
`kubectl auth whoami` (SelfSubjectReview). They are answered from the same authorizer that
guards every request, so `can-i` never disagrees with what the server then does."""

from __future__ import annotations

import copy

from tripgen_sandbox.apierrors import ApiError
from tripgen_sandbox.apiserver.auth import User, impersonated

REVIEW_GROUPS = ("authorization.k8s.io", "authentication.k8s.io")
SELF_SERVICE = ("selfsubjectaccessreviews", "selfsubjectrulesreviews", "selfsubjectreviews")


def _user_from_spec(spec: dict) -> User:
    """The subject of a (Local)SubjectAccessReview."""
    return impersonated(spec.get("user") or "", tuple(spec.get("groups") or ()))


def _access(auth, user: User, spec: dict) -> dict:
    attrs = spec.get("resourceAttributes")
    if attrs is None:
        # non-resource URLs (/healthz, /version, ...): the admin may; others only the public ones
        path = (spec.get("nonResourceAttributes") or {}).get("path", "")
        allowed = user.is_admin or path in ("/healthz", "/readyz", "/livez", "/version", "/api", "/apis")
        return {"allowed": allowed}
    if user.is_admin:
        return {"allowed": True, "reason": ""}
    resource = attrs.get("resource", "") + (f"/{attrs['subresource']}" if attrs.get("subresource") else "")
    allowed = auth._allowed(user, attrs.get("verb", ""), attrs.get("group", ""), resource, attrs.get("namespace") or None, attrs.get("name") or None)
    out = {"allowed": allowed}
    if allowed:
        out["reason"] = "RBAC: allowed by a RoleBinding or ClusterRoleBinding"
    return out


def _rules(auth, user: User, namespace: str | None) -> dict:
    if user.is_admin:
        return {
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": False,
        }
    rules: list[dict] = [
        {"verbs": ["create"], "apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]},
        {"verbs": ["create"], "apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"]},
    ]
    # RBAC for every non-admin user: service accounts, users and groups
    match = lambda subjects: any(_matches(s, user) for s in subjects or [])  # noqa: E731
    for crb in auth.store.iter("clusterrolebindings.rbac.authorization.k8s.io"):
        if match(crb.get("subjects")):
            rules += auth._role_rules(crb.get("roleRef", {}), None)
    if namespace:
        for rb in auth.store.iter("rolebindings.rbac.authorization.k8s.io", namespace):
            if match(rb.get("subjects")):
                rules += auth._role_rules(rb.get("roleRef", {}), namespace)
    resource_rules = [{k: v for k, v in r.items() if k in ("verbs", "apiGroups", "resources", "resourceNames")} for r in rules if r.get("resources")]
    non_resource = [{"verbs": r.get("verbs", []), "nonResourceURLs": r["nonResourceURLs"]} for r in rules if r.get("nonResourceURLs")]
    non_resource.append({"verbs": ["get"], "nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz", "/version", "/version/"]})
    return {"resourceRules": resource_rules, "nonResourceRules": non_resource, "incomplete": False}


def _matches(subject: dict, user: User) -> bool:
    from tripgen_sandbox.apiserver.auth import _subject_matches

    return _subject_matches(subject, user)


def review(auth, user: User, rtype, namespace: str | None, body: dict) -> dict:
    """The created review object (status filled in), as the API server answers a POST."""
    if not isinstance(body, dict):
        raise ApiError(400, "the body of the request must be an object")
    kind = body.get("kind")
    if kind and kind != rtype.kind:
        raise ApiError(400, f"kind {kind} does not match {rtype.kind}")
    out = copy.deepcopy(body)
    out["apiVersion"] = rtype.api_version
    out["kind"] = rtype.kind
    meta = out.setdefault("metadata", {})
    meta.setdefault("creationTimestamp", None)
    spec = out.get("spec") or {}
    plural = rtype.plural
    if plural == "selfsubjectaccessreviews":
        out["status"] = _access(auth, user, spec)
    elif plural in ("subjectaccessreviews", "localsubjectaccessreviews"):
        # who may ask was decided by the RBAC authorizer (system:auth-delegator grants it)
        if plural == "localsubjectaccessreviews":
            attrs = spec.get("resourceAttributes") or {}
            if attrs.get("namespace") and attrs["namespace"] != namespace:
                raise ApiError(400, "spec.resourceAttributes.namespace must match metadata.namespace")
            spec.setdefault("resourceAttributes", {})["namespace"] = namespace
        out["status"] = _access(auth, _user_from_spec(spec), spec)
    elif plural == "selfsubjectrulesreviews":
        out["status"] = _rules(auth, user, spec.get("namespace"))
    elif plural == "selfsubjectreviews":
        info = {"username": user.name, "groups": list(user.groups)}
        if user.service_account:
            info["extra"] = {"authentication.kubernetes.io/credential-id": ["sandbox-token"]}
        out["status"] = {"userInfo": info}
    elif plural == "tokenreviews":
        token = spec.get("token") or ""  # the caller passed RBAC (create tokenreviews)
        who = auth._verify_sa(token)
        if who is None and token and token == auth.admin_token:
            who = User("sandbox-admin", ("system:masters", "system:authenticated"))
        out["status"] = {"authenticated": who is not None, **({"user": {"username": who.name, "groups": list(who.groups)}} if who else {})}
    else:
        raise ApiError(404, "the server could not find the requested resource")
    return out

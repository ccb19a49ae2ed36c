"""Who is calling and may they: the admin (bearer token or client certificate from the
kubeconfig) may do anything; service-account tokens (mounted into pods) are held to RBAC
Roles/RoleBindings and ClusterRoles/ClusterRoleBindings like the real authorizer, so a Role can be
proven sufficient and no wider than needed."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from tripgen_sandbox.apierrors import ApiError


@dataclass
class User:
    name: str
    groups: tuple[str, ...] = ()
    service_account: tuple[str, str] | None = None  # (namespace, name)

    @property
    def is_admin(self) -> bool:
        return "system:masters" in self.groups


class Authenticator:
    def __init__(self, store, admin_token: str, signing_key: bytes):
        self.store = store
        self.admin_token = admin_token
        self.key = signing_key

    # ---- tokens --------------------------------------------------------------------------
    def service_account_token(self, namespace: str, name: str, ttl: int = 3600 * 24 * 365) -> str:
        claims = {"sub": f"system:serviceaccount:{namespace}:{name}", "ns": namespace, "sa": name, "exp": int(time.time()) + ttl, "n": secrets.token_hex(4)}
        body = json.dumps(claims, separators=(",", ":")).encode().hex()
        sig = hmac.new(self.key, body.encode(), hashlib.sha256).hexdigest()
        return f"sbx.{body}.{sig}"

    def _verify_sa(self, token: str) -> User | None:
        try:
            _, body, sig = token.split(".")
        except ValueError:
            return None
        if not hmac.compare_digest(hmac.new(self.key, body.encode(), hashlib.sha256).hexdigest(), sig):
            return None
        claims = json.loads(bytes.fromhex(body))
        if claims.get("exp", 0) < time.time():
            return None
        ns, sa = claims["ns"], claims["sa"]
        return User(claims["sub"], ("system:serviceaccounts", f"system:serviceaccounts:{ns}", "system:authenticated"), (ns, sa))

    def token_request(self, sa: dict, body: dict) -> dict:
        ttl = int(((body or {}).get("spec") or {}).get("expirationSeconds") or 3600)
        token = self.service_account_token(sa["metadata"]["namespace"], sa["metadata"]["name"], ttl)
        exp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + ttl))
        return {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1", "metadata": {"name": sa["metadata"]["name"], "namespace": sa["metadata"]["namespace"]}, "spec": {"audiences": ["https://kubernetes.default.svc"], "expirationSeconds": ttl}, "status": {"token": token, "expirationTimestamp": exp}}

    # ---- authn ---------------------------------------------------------------------------
    def authenticate(self, request: web.Request) -> User:
        user = self._authenticate(request)
        target = request.headers.get("Impersonate-User")
        groups = tuple(request.headers.getall("Impersonate-Group", ()))
        if not target and not groups:
            return user
        if not user.is_admin:
            raise ApiError(403, f'users "{target}" is forbidden: User "{user.name}" cannot impersonate resource "users" in API group "" at the cluster scope', "Forbidden")
        return impersonated(target or user.name, groups)

    def _authenticate(self, request: web.Request) -> User:
        header = request.headers.get("Authorization", "")
        if header[:7].lower() == "bearer ":  # the scheme is case-insensitive (RFC 7235)
            token = header[7:].strip()
            if hmac.compare_digest(token, self.admin_token):
                return User("sandbox-admin", ("system:masters", "system:authenticated"))
            user = self._verify_sa(token)
            if user:
                return user
            raise ApiError(401, "Unauthorized", "Unauthorized")
        transport = request.transport
        cert = transport.get_extra_info("peercert") if transport else None
        if cert:
            subject = dict(x[0] for x in cert.get("subject", ()))
            orgs = tuple(v for rdn in cert.get("subject", ()) for k, v in rdn if k == "organizationName")
            return User(subject.get("commonName", "unknown"), orgs + ("system:authenticated",))
        if request.path in ("/healthz", "/readyz", "/livez", "/version"):
            return User("system:anonymous", ("system:unauthenticated",))
        raise ApiError(401, "Unauthorized", "Unauthorized")

    # ---- authz ---------------------------------------------------------------------------
    def authorize(self, user: User, method: str, route) -> None:
        if user.is_admin:
            return
        if route.type.plural in ("selfsubjectaccessreviews", "selfsubjectrulesreviews", "selfsubjectreviews"):
            return  # system:basic-user: everyone may ask what they may do
        verb = _verb(method, route)
        resource = route.type.plural + (f"/{route.sub}" if route.sub else "")
        group = route.type.group
        ns = route.namespace
        if self._allowed(user, verb, group, resource, ns, route.name):
            return
        scope = f' in the namespace "{ns}"' if ns else " at the cluster scope"
        raise ApiError(
            403,
            f'{resource.split("/")[0]}{"." + group if group else ""}{(" " + chr(34) + route.name + chr(34)) if route.name else ""} is forbidden: User "{user.name}" cannot {verb} resource "{resource}" in API group "{group}"{scope}',
            "Forbidden",
            {"name": route.name or "", "group": group, "kind": route.type.plural},
        )

    def _allowed(self, user: User, verb: str, group: str, resource: str, ns: str | None, name: str | None) -> bool:
        subjects_match = lambda subjects: any(_subject_matches(s, user) for s in subjects or [])  # noqa: E731
        rules: list[dict] = []
        for crb in self.store.iter("clusterrolebindings.rbac.authorization.k8s.io"):
            if subjects_match(crb.get("subjects")):
                rules += self._role_rules(crb.get("roleRef", {}), None)
        if ns:
            for rb in self.store.iter("rolebindings.rbac.authorization.k8s.io", ns):
                if subjects_match(rb.get("subjects")):
                    rules += self._role_rules(rb.get("roleRef", {}), ns)
        return any(_rule_allows(rule, verb, group, resource, name) for rule in rules)

    def _role_rules(self, ref: dict, ns: str | None) -> list[dict]:
        if ref.get("kind") == "ClusterRole":
            role = self.store.get("clusterroles.rbac.authorization.k8s.io", None, ref.get("name", ""))
        else:
            role = self.store.get("roles.rbac.authorization.k8s.io", ns, ref.get("name", ""))
        return (role or {}).get("rules") or []


def impersonated(name: str, groups: tuple[str, ...] = ()) -> User:
    """The user `kubectl --as NAME [--as-group G]` asks to act as (the admin may impersonate)."""
    sa = None
    if name.startswith("system:serviceaccount:") and len(name.split(":")) == 4:
        _, _, ns, sa_name = name.split(":")
        sa = (ns, sa_name)
        groups = groups or ("system:serviceaccounts", f"system:serviceaccounts:{ns}")
    return User(name, tuple(groups) + ("system:authenticated",), sa)


def _verb(method: str, route) -> str:
    if route.sub in ("exec", "attach", "portforward", "proxy"):
        return "create" if method == "POST" else "get"
    if method == "GET":
        return "get" if route.name else "list"
    return {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete" if route.name else "deletecollection"}.get(method, method.lower())


def _subject_matches(subject: dict, user: User) -> bool:
    kind = subject.get("kind")
    if kind == "ServiceAccount" and user.service_account:
        return (subject.get("namespace"), subject.get("name")) == user.service_account
    if kind == "User":
        return subject.get("name") == user.name
    if kind == "Group":
        return subject.get("name") in user.groups
    return False


def _rule_allows(rule: dict, verb: str, group: str, resource: str, name: str | None) -> bool:
    def has(values, v):
        return "*" in (values or []) or v in (values or [])

    if not has(rule.get("verbs"), verb) and not (verb == "watch" and False):
        return False
    if not has(rule.get("apiGroups"), group):
        return False
    if not has(rule.get("resources"), resource):
        return False
    names = rule.get("resourceNames")
    if names and (name is None or name not in names):
        return False
    return True


def load_or_create_secret(path: Path, nbytes: int = 32) -> str:
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(nbytes)
    from tripgen_sandbox.private import write_private

    write_private(path, value)
    return value

"""The environment's own services: PostgreSQL answering, Redis answering, the apps' health,
the Secrets they need, the NetworkPolicies of the SPEC, and Warning events nobody explained."""

from __future__ import annotations

import base64
import json
from collections import defaultdict

from tripgenctl.kube import resources
from tripgenctl.ops.diff import compare
from tripgenctl.ops.doctor.knowledge import texts
from tripgenctl.ops.doctor.model import Finding
from tripgenctl.ops.doctor.snapshot import Snapshot
from tripgenctl.timestamps import minutes_since, parse_time

EXPECTED_SECRETS = {
    "postgresql-secret": ("username", "password", "database"),
    "redis-secret": ("password",),
    "jwt-secret": ("secret",),
    "servicebus-connection": ("connection-string",),
    "openai-api-key": ("api-key",),
}
JWT_MIN_BYTES = 32
HEALTH = "actuator/health"  # Spring Boot's health endpoint of every app (asked through the API server's proxy)


def _ready(pod: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in pod.get("status", {}).get("conditions") or [])


def check_database(snap: Snapshot, cfg, ctx) -> list[Finding]:
    out = []
    w = cfg.workloads
    pg_pod, redis_pod = w.postgres_pod, w.redis_pod
    sts = next((s for s in snap.statefulsets if s["metadata"]["name"] == w.postgres), None)
    pod = snap.pod(pg_pod)
    if sts is not None and sts.get("spec", {}).get("replicas", 1) == 0:
        out.append(Finding("database", "critical", f"statefulset/{w.postgres}", "PostgreSQL is scaled to 0: every app's database connection fails",
                           evidence="spec.replicas=0", command="tripgenctl up --yes   # scales PostgreSQL and Redis back first, then the apps", **texts("database")))
    elif pod is None:
        out.append(Finding("database", "critical", f"pod/{pg_pod}", "PostgreSQL pod does not exist",
                           command=f"kubectl get statefulset {w.postgres} -n {snap.namespace}", **texts("database")))
    elif not _ready(pod):
        out.append(Finding("database", "critical", f"pod/{pg_pod}", f"PostgreSQL pod is not Ready (phase {pod.get('status', {}).get('phase')})",
                           command=f"kubectl describe pod {pg_pod} -n {snap.namespace}", **texts("database")))
    else:
        ok, detail = ctx.probe_database()
        if not ok:
            out.append(Finding("database", "critical", f"pod/{pg_pod}", "PostgreSQL does not accept a query with the Secret's credentials",
                               evidence=detail, command=f"kubectl logs {pg_pod} -n {snap.namespace} --tail=50", **texts("database")))
        else:
            out += _secret_authenticates(snap, ctx, "postgres", pg_pod)
        restarts = sum(cs.get("restartCount", 0) for cs in pod.get("status", {}).get("containerStatuses") or [])
        if restarts:
            out.append(Finding("database", "warning", f"pod/{pg_pod}", f"PostgreSQL restarted {restarts} time(s): connections were dropped",
                               command=f"kubectl logs {pg_pod} -n {snap.namespace} --previous --tail=50", **texts("database")))
    redis = snap.pod(redis_pod)
    if redis is None or not _ready(redis):
        out.append(Finding("database", "critical", f"pod/{redis_pod}", "Redis pod is missing or not Ready",
                           command=f"tripgenctl up --yes   # or: kubectl describe pod {redis_pod} -n {snap.namespace}", **texts("database")))
    else:
        ok, detail = ctx.probe_redis()
        if not ok:
            out.append(Finding("database", "critical", f"pod/{redis_pod}", "Redis does not answer PING with its password", evidence=detail,
                               command=f"kubectl logs {redis_pod} -n {snap.namespace} --tail=50", **texts("database")))
        out += _secret_authenticates(snap, ctx, "redis", redis_pod)
    return out


def _secret_authenticates(snap: Snapshot, ctx, server: str, pod: str) -> list[Finding]:
    """The password in the Secret, not the one a running pod started with, is what every pod
    started from now on gets: it must authenticate to the server (PostgreSQL: against the role's
    stored verifier; Redis: AUTH on a fresh connection). Otherwise the next restart or `up`
    breaks every app although all looks healthy now."""
    from tripgenctl.ops import credentials

    name = "postgresql-secret" if server == "postgres" else "redis-secret"
    secret = next((s for s in snap.secrets if s["metadata"]["name"] == name), None)
    password = (_secret_value(secret, "password") or b"").decode(errors="replace") if secret else ""
    if not password:
        return []  # the secrets check reports a missing Secret or key
    if server == "postgres":
        user = (_secret_value(secret, "username") or b"postgres").decode(errors="replace")
        ok, detail = credentials.postgres_accepts(ctx.kube, user, password, pod)
    else:
        ok, detail = credentials.redis_accepts(ctx.kube, password, pod)
    if ok:
        return []
    what = "PostgreSQL" if server == "postgres" else "Redis"
    if ok is None:
        return [Finding("database", "warning", f"secret/{name}", f"could not check that the password in {name} authenticates to {what}",
                        evidence=detail, command=f"kubectl auth can-i create pods/exec -n {snap.namespace}; kubectl auth can-i create pods/portforward -n {snap.namespace}")]
    return [Finding("database", "critical", f"secret/{name}", f"the password in {name} does not authenticate to {what}: pods started from now on "
                    "(a restart, `up`) cannot connect", evidence=detail,
                    command=f"{'POSTGRES' if server == 'postgres' else 'REDIS'}_PASSWORD=<the server's password> tripgenctl secrets init --force -n {snap.namespace}"
                            f"   # then, to change it: tripgenctl secrets rotate {server}",
                    **texts("database"))]


def check_apps(snap: Snapshot, cfg, ctx) -> list[Finding]:
    out = []
    deployments = {d["metadata"]["name"]: d for d in snap.deployments}
    for app in cfg.workloads.apps:
        dep = deployments.get(app)
        if dep is None:
            continue
        if dep.get("spec", {}).get("replicas", 1) == 0:
            continue  # scaled down on purpose (tripgenctl down): not a health problem
        ready = bool((dep.get("status") or {}).get("readyReplicas"))
        if ready:
            via = f"services/{app}:8080"
        else:
            # No ready endpoint behind the Service: ask a running pod directly, so the report
            # still names the dependency that keeps it unready.
            pod = _running_pod(snap, dep)
            if pod is None:
                out.append(Finding("apps", "critical", f"deployment/{app}", "no ready replica and no running pod to ask for its health",
                                   command=f"kubectl get pods -l app={app} -n {snap.namespace} -o wide", **texts("apps")))
                continue
            via = f"pods/{pod}:8080"
        answer = ctx.app_health(via)
        status, body = answer.code, answer.body
        if answer.ok and ready:
            continue
        components = _components(body)
        down = [f"{name} {state}" for name, state, _ in components if state != "UP"]
        causes = [d for d in down if d.split()[0] not in OWN_STATES]
        down = causes or down  # readinessState DOWN follows from a dependency: name the dependency
        if answer.ok:
            title = "no ready replica (health UP now: it may be starting)"
        else:
            title = "health reports DOWN" + (f": {', '.join(down)}" if down else f" (HTTP {status})") + ("" if ready else "; no ready replica")
        detail = "; ".join(f"{name} {state}" + (f": {error}" if error else "") for name, state, error in components)
        evidence = f"HTTP {status} from GET {via}/proxy/{HEALTH}" + (f": {detail}" if detail else f": {json.dumps(body)[:300]}" if body else "")
        out.append(Finding("apps", "critical", f"deployment/{app}", title, evidence=evidence[:600],
                           command=f"kubectl get --raw {resources.proxy_path(snap.namespace, via, HEALTH)}", **texts("apps")))
    return out


def _running_pod(snap: Snapshot, dep: dict) -> str | None:
    selector = ((dep.get("spec") or {}).get("selector") or {})
    for p in snap.pods:
        if p.get("status", {}).get("phase") == "Running" and not p["metadata"].get("deletionTimestamp") and _selects(selector, p["metadata"].get("labels") or {}):
            return p["metadata"]["name"]
    return None


OWN_STATES = ("readinessState", "livenessState", "ping")


def _components(body) -> list[tuple[str, str, str]]:
    """(name, status, error) of each health component Spring Boot reports."""
    out = []
    if isinstance(body, dict):
        for comp, info in (body.get("components") or {}).items():
            info = info if isinstance(info, dict) else {}
            detail = info.get("details") if isinstance(info.get("details"), dict) else {}
            out.append((comp, str(info.get("status") or "UNKNOWN"), str(detail.get("error") or "")))
    return out


def _secret_value(secret: dict, key: str) -> bytes | None:
    raw = (secret.get("data") or {}).get(key)
    if raw is None:
        return None
    try:
        return base64.b64decode(raw)
    except ValueError:
        return b""


SERVICEBUS_SECRET = "servicebus-connection"  # checked by bus_checks (the table's own row)


def check_secrets(snap: Snapshot, cfg, ctx) -> list[Finding]:
    out = []
    secrets = {s["metadata"]["name"]: s for s in snap.secrets}
    for name, keys in EXPECTED_SECRETS.items():
        if name == SERVICEBUS_SECRET:
            continue  # the servicebus check owns it (the table's own row)
        out += _secret_presence(secrets.get(name), name, keys, "secrets", snap.namespace)
        secret = secrets.get(name)
        if secret is not None and name == "jwt-secret" and 0 < len(_secret_value(secret, "secret") or b"") < JWT_MIN_BYTES:
            out.append(Finding("secrets", "warning", "secret/jwt-secret",
                               f"JWT key shorter than {JWT_MIN_BYTES} bytes (HS256 wants at least 256 bits)",
                               evidence=f"key 'secret' is {len(_secret_value(secret, 'secret') or b'')} bytes",
                               command=f"tripgenctl secrets init --force -n {snap.namespace}   # with JWT_SECRET unset: regenerates it", **texts("secrets")))
    return out


def _secret_presence(secret: dict | None, name: str, keys: tuple[str, ...], check: str, namespace: str) -> list[Finding]:
    """Missing Secret or missing/empty keys: names and lengths only, never values."""
    if secret is None:
        return [Finding(check, "critical", f"secret/{name}", "Secret is missing", evidence=f"expected keys: {', '.join(keys)}",
                        command=f"tripgenctl secrets init -n {namespace}", **texts(check))]
    empty = [k for k in keys if not _secret_value(secret, k)]
    if not empty:
        return []
    present = ", ".join(f"{k} ({len(_secret_value(secret, k) or b'')} bytes)" for k in sorted((secret.get("data") or {}).keys())) or "none"
    return [Finding(check, "critical", f"secret/{name}", f"key(s) missing or empty: {', '.join(empty)}",
                    evidence=f"expected keys: {', '.join(keys)}; present: {present}",
                    command=f"tripgenctl secrets check -n {namespace}   # then: tripgenctl secrets init --force with the value", **texts(check))]


def _selects(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def _policy_allows(policy: dict, from_labels: dict, port: int) -> bool:
    for rule in policy.get("spec", {}).get("ingress") or []:
        peers_ok = any("podSelector" in peer and _selects(peer["podSelector"], from_labels) for peer in rule.get("from") or [])
        ports_ok = not rule.get("ports") or any(p.get("port") in (port, str(port)) for p in rule.get("ports") or [])
        if peers_ok and ports_ok:
            return True
    return False


def _namespace_profile(snap: Snapshot, cfg, ctx) -> str:
    """The profile deploy recorded on the namespace, else the configured one."""
    from tripgenctl.ops.deploy import PROFILE_ANNOTATION

    try:
        body = resources.get(ctx.kube, "v1", "Namespace", snap.namespace)
    except Exception:  # noqa: BLE001 - the snapshot already read it; fall back to the config
        body = None
    recorded = ((body or {}).get("metadata", {}).get("annotations") or {}).get(PROFILE_ANNOTATION) if isinstance(body, dict) else None
    return recorded or getattr(cfg, "profile", "001")


def _admits_everyone(rule: dict) -> str:
    """How an ingress rule admits every source, or "": no `from` at all, an empty podSelector
    (every pod of the namespace), an empty namespaceSelector (every namespace), 0.0.0.0/0."""
    peers = rule.get("from")
    if not peers:
        return "from anywhere"
    for peer in peers:
        if "ipBlock" in peer and (peer["ipBlock"] or {}).get("cidr") in ("0.0.0.0/0", "::/0"):
            return f"from {peer['ipBlock']['cidr']}"
        if "namespaceSelector" in peer and not (peer["namespaceSelector"] or {}):
            return "from every namespace"
        if "podSelector" in peer and "namespaceSelector" not in peer and not (peer["podSelector"] or {}):
            return "from every pod of the namespace"
    return ""


def _opens_port(rule: dict, port: int) -> bool:
    ports = rule.get("ports") or []
    return not ports or any(p.get("port") in (port, str(port)) or p.get("port") is None for p in ports)


def _template_labels(snap: Snapshot, name: str) -> dict | None:
    for obj in list(snap.statefulsets) + list(snap.deployments):
        if obj["metadata"]["name"] == name:
            return (((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
    pod = snap.pod(f"{name}-0")
    return (pod or {}).get("metadata", {}).get("labels") if pod else None


def check_netpol_wide(snap: Snapshot, cfg, ctx, profile: str) -> list[Finding]:
    """A policy that opens a pod wider than the SPEC's policies do: NetworkPolicies only add, so one
    allow-all rule cancels allow-apps-to-db however correct that one still looks. The profile's
    own policies, unchanged, are the SPEC (000's permissive dev-basic-policy included)."""
    from tripgenctl import manifests

    spec_policies = {o["metadata"]["name"]: o for o in manifests.render(snap.namespace, profile) if o["kind"] == "NetworkPolicy"}
    w = cfg.workloads
    targets = [(w.postgres, 5432, "critical", "PostgreSQL"), (w.redis, 6379, "critical", "Redis")] + [(a, 8080, "warning", a) for a in w.apps]
    out = []
    for policy in snap.networkpolicies:
        name = policy["metadata"]["name"]
        own = spec_policies.get(name)
        if own is not None and not [c for c in compare(own.get("spec"), policy.get("spec")) if c[1] != "extra"]:
            continue  # the SPEC's own policy as the manifests have it
        spec = policy.get("spec") or {}
        if "Ingress" not in (spec.get("policyTypes") or ["Ingress"]):
            continue
        opened = []
        for rule in spec.get("ingress") or []:
            how = _admits_everyone(rule)
            if not how:
                continue
            for target, port, severity, label in targets:
                labels = _template_labels(snap, target)
                if labels is not None and _selects(spec.get("podSelector") or {}, labels) and _opens_port(rule, port):
                    opened.append((severity, label, port, how))
        if not opened:
            continue
        severity = "critical" if any(o[0] == "critical" for o in opened) else "warning"
        names = ", ".join(sorted({f"{label} (TCP {port})" for _, label, port, _ in opened}))
        out.append(Finding("netpol", severity, f"networkpolicy/{name}", f"opens {names} {opened[0][3]}: wider than the SPEC's policies "
                           "(NetworkPolicies add up, so the restriction to tier=application is cancelled)",
                           evidence=f"podSelector {spec.get('podSelector')}, ingress {json.dumps(spec.get('ingress'))[:200]}",
                           command=f"kubectl delete networkpolicy {name} -n {snap.namespace}   # if nobody needs it; see: tripgenctl diff", **texts("netpol")))
    return out


def check_netpol(snap: Snapshot, cfg, ctx) -> list[Finding]:
    out = []
    profile = _namespace_profile(snap, cfg, ctx)
    policies = {p["metadata"]["name"]: p for p in snap.networkpolicies}
    expected = ("allow-ingress-to-apps", "allow-apps-to-db", "allow-apps-to-cache", "allow-external-api")
    if profile == "000":
        expected = ("allow-apps-to-db",)
    for name in expected:
        if name not in policies:
            out.append(Finding("netpol", "warning", f"networkpolicy/{name}", "NetworkPolicy of the SPEC is missing",
                               command="tripgenctl deploy   # or: tripgenctl diff", **texts("netpol")))
    app_labels = {"tier": "application"}
    for name, target, port in (("allow-apps-to-db", cfg.workloads.postgres_pod, 5432), ("allow-apps-to-cache", cfg.workloads.redis_pod, 6379)):
        policy = policies.get(name)
        pod = snap.pod(target)
        if policy is None or pod is None:
            continue
        if not _selects(policy["spec"].get("podSelector") or {}, pod["metadata"].get("labels") or {}):
            out.append(Finding("netpol", "warning", f"networkpolicy/{name}", f"does not select pod {target}",
                               evidence=f"podSelector {policy['spec'].get('podSelector')}", command="tripgenctl diff", **texts("netpol")))
        elif not _policy_allows(policy, app_labels, port):
            out.append(Finding("netpol", "critical", f"networkpolicy/{name}", f"does not allow tier=application pods on TCP {port}",
                               command="tripgenctl diff", **texts("netpol")))
    return out + check_netpol_wide(snap, cfg, ctx, profile)


EVENTS_WINDOW_MINUTES = 60.0  # the API server's default event TTL: older events are history


def _event_time(event: dict) -> str | None:
    return event.get("lastTimestamp") or event.get("eventTime") or (event.get("metadata") or {}).get("creationTimestamp")


def _stale(event: dict, snap: Snapshot) -> bool:
    """History, not a problem: the pod is gone (an old ReplicaSet's), or it has been Ready since
    the event (startup probe failures while a Spring Boot app boots)."""
    io = event.get("involvedObject", {})
    if io.get("kind") != "Pod":
        return False
    pod = snap.pod(io.get("name"))
    if pod is None or (io.get("uid") and pod["metadata"].get("uid") and io["uid"] != pod["metadata"]["uid"]):
        return True
    ready = next((c for c in pod.get("status", {}).get("conditions") or [] if c.get("type") == "Ready"), None)
    if not ready or ready.get("status") != "True":
        return False
    since, at = parse_time(ready.get("lastTransitionTime")), parse_time(_event_time(event))
    return since is not None and at is not None and at <= since


def check_events(snap: Snapshot, cfg, ctx, explained: set[str]) -> list[Finding]:
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for e in snap.events:
        if e.get("type") != "Warning" or minutes_since(_event_time(e), ctx.now, missing=0.0) > EVENTS_WINDOW_MINUTES or _stale(e, snap):
            continue
        io = e.get("involvedObject", {})
        obj = f"{io.get('kind', '').lower()}/{io.get('name')}"
        if obj in explained:
            continue
        groups[(e.get("reason", ""), io.get("kind", ""))].append(e)
    out = []
    for (reason, kind), events in sorted(groups.items()):
        names = sorted({e["involvedObject"].get("name") for e in events})
        count = sum(e.get("count", 1) for e in events)
        out.append(Finding("events", "warning", f"{kind.lower()}/{names[0]}" + (f" (+{len(names) - 1})" if len(names) > 1 else ""),
                           f"{count} Warning event(s) {reason}", evidence=events[-1].get("message", "")[:300],
                           command=f"kubectl get events -n {snap.namespace} --field-selector reason={reason} --sort-by=.lastTimestamp", **texts("events")))
    return out

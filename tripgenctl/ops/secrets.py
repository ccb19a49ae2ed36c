"""The environment's Secrets, which never live in git: created from environment variables or
a .env file, generated where a random value is as good as a chosen one (database and cache
passwords, the JWT signing key), never invented where only a person can supply the value
(OpenAI key, Service Bus connection string). Values exist only in memory and in the API
request; results carry key names and states, never values."""

from __future__ import annotations

import re
import secrets as _random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from tripgenctl.errors import UsageError
from tripgenctl.kube.errors import Conflict
from tripgenctl.kube.namespaces import Namespace
from tripgenctl.kube.pods import Pod
from tripgenctl.kube.secrets import Secret

LABELS = {"app.kubernetes.io/part-of": "tripgen", "app.kubernetes.io/managed-by": "tripgenctl"}


@dataclass(frozen=True)
class KeySpec:
    key: str
    variable: str  # environment / .env variable that supplies it
    default: str | None = None  # a fixed, non-secret default (user name, database name)
    generate: Callable[[], str] | None = None
    validate: Callable[[str], str | None] | None = None  # -> problem description (never the value)


@dataclass(frozen=True)
class SecretSpec:
    name: str
    keys: tuple[KeySpec, ...]
    purpose: str


def _password() -> str:
    return _random.token_urlsafe(24)  # 32 URL-safe chars: safe in JDBC URLs, redis args, shells


def _jwt_key() -> str:
    return _random.token_urlsafe(64)  # 512 bits: enough for HS512


def _servicebus(value: str) -> str | None:
    parts = dict(p.split("=", 1) for p in value.strip().strip(";").split(";") if "=" in p)
    missing = [k for k in ("Endpoint", "SharedAccessKeyName", "SharedAccessKey") if not parts.get(k)]
    if missing:
        return f"is not a Service Bus connection string (missing {', '.join(missing)})"
    if not parts["Endpoint"].startswith("sb://"):
        return "is not a Service Bus connection string (Endpoint must start with sb://)"
    return None


# The Secrets contract of docs/ARCHITECTURE.md.
SPECS: tuple[SecretSpec, ...] = (
    SecretSpec("postgresql-secret", (
        KeySpec("username", "POSTGRES_USER", default="postgres"),
        KeySpec("password", "POSTGRES_PASSWORD", generate=_password),
        KeySpec("database", "POSTGRES_DB", default="tripgen"),
    ), "PostgreSQL superuser and database"),
    SecretSpec("redis-secret", (KeySpec("password", "REDIS_PASSWORD", generate=_password),), "Redis password"),
    SecretSpec("jwt-secret", (KeySpec("secret", "JWT_SECRET", generate=_jwt_key),), "JWT signing key"),
    SecretSpec("servicebus-connection", (KeySpec("connection-string", "SERVICEBUS_CONNECTION_STRING", validate=_servicebus),), "Azure Service Bus connection string"),
    SecretSpec("openai-api-key", (KeySpec("api-key", "OPENAI_API_KEY"),), "OpenAI API key"),
)


@dataclass
class SecretInitRow:
    secret: str
    action: str  # created | replaced | kept | would create | would replace
    keys: list[str]
    sources: str  # key=source, e.g. password=generated, username=default

    __table__ = ("secret", "action", "keys", "sources")


@dataclass
class SecretsInitResult:
    namespace: str
    secrets: list[SecretInitRow] = field(default_factory=list)
    note: str = ""


@dataclass
class SecretKeyRow:
    secret: str
    key: str
    present: bool
    non_empty: bool

    __table__ = ("secret", "key", "present", "non_empty")


@dataclass
class SecretsCheckResult:
    namespace: str
    ok: bool
    missing_secrets: list[str]
    keys: list[SecretKeyRow] = field(default_factory=list)


# ---- value sources -----------------------------------------------------------------------------

_ENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


def parse_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines, `export` allowed, '#' comments, single or double quotes. Errors name
    the line number only: the line may hold a secret."""
    if not path.exists():
        raise UsageError(f"env file {path} does not exist")
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _ENV_LINE.match(line)
        if not match:
            raise UsageError(f"env file {path}, line {number}: expected KEY=VALUE")
        key, raw = match.groups()
        if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
            value = raw[1:-1]
            if raw[0] == '"':
                value = value.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
        else:
            value = raw.split(" #", 1)[0].rstrip()
        values[key] = value
    return values


def sources(env_file: Path | None, environ: Mapping[str, str]) -> dict[str, str]:
    """Variables from the .env file, overridden by the process environment (as docker compose);
    the caller (the CLI) passes its environment: ops read no process state of their own."""
    values = parse_env_file(env_file) if env_file else {}
    env = environ
    for spec in SPECS:
        for k in spec.keys:
            if env.get(k.variable):
                values[k.variable] = env[k.variable]
    return values


def resolve(spec: SecretSpec, values: dict[str, str], existing: dict[str, str] | None) -> tuple[dict[str, str], dict[str, str]]:
    """(key -> value, key -> where it came from). Order: supplied, kept from the existing
    Secret, fixed default, generated. Raises nothing: missing keys are left out."""
    data: dict[str, str] = {}
    origin: dict[str, str] = {}
    for k in spec.keys:
        if values.get(k.variable):
            data[k.key], origin[k.key] = values[k.variable], k.variable
        elif existing and existing.get(k.key):
            data[k.key], origin[k.key] = existing[k.key], "kept"
        elif k.default is not None:
            data[k.key], origin[k.key] = k.default, "default"
        elif k.generate is not None:
            data[k.key], origin[k.key] = k.generate(), "generated"
    return data, origin


def problems(values: dict[str, str]) -> list[str]:
    """Supplied values that are malformed, by variable name."""
    out = []
    for spec in SPECS:
        for k in spec.keys:
            if k.validate and values.get(k.variable):
                problem = k.validate(values[k.variable])
                if problem:
                    out.append(f"{k.variable} {problem}")
    return out


# ---- against a cluster -------------------------------------------------------------------------

def _decode(secret: Secret | None) -> dict[str, str]:
    return secret.values() if secret is not None else {}


def _manifest(name: str, namespace: str, data: dict[str, str], purpose: str) -> dict:
    return Secret.manifest(name, namespace, data, labels=LABELS, annotations={"tripgenctl.io/purpose": purpose})


def ensure_namespace(kube, namespace: str) -> bool:
    """Create the namespace (from the manifests, labels and all) when it does not exist yet:
    `secrets init` runs before the first deploy. True when created."""
    if Namespace.exists(kube, namespace):
        return False
    from tripgenctl import manifests

    ns_obj = next(o for o in manifests.render(namespace) if o["kind"] == "Namespace")
    kube.apply_object(ns_obj)
    return True


def init(kube, namespace: str, values: dict[str, str], force: bool = False, dry_run: bool = False) -> SecretsInitResult:
    """Create the five Secrets. Without --force an existing Secret is kept as it is; with it,
    it is replaced, keeping the existing value of every key not supplied (so rotating the
    OpenAI key does not silently change the database password the data directory has)."""
    bad = problems(values)
    if bad:
        raise UsageError("; ".join(bad))
    existing = {spec.name: Secret.get(kube, spec.name, namespace, missing_ok=True) for spec in SPECS}
    planned = []
    missing: list[str] = []
    for spec in SPECS:
        live = existing[spec.name]
        if live is not None and not force:
            planned.append((spec, None, None))
            continue
        data, origin = resolve(spec, values, _decode(live))
        for k in spec.keys:
            if k.key not in data:
                missing.append(f"{k.variable} (secret {spec.name}, key {k.key}: the {spec.purpose})")
        planned.append((spec, data, origin))
    if missing:
        raise UsageError("cannot invent " + "; ".join(missing) + ": set it in the environment or the --env-file")
    for spec, data, _origin in planned:
        if data is not None and existing[spec.name] is not None:
            refuse_server_change(kube, namespace, spec.name, _decode(existing[spec.name]), data)
    result = SecretsInitResult(namespace=namespace)
    if not dry_run and ensure_namespace(kube, namespace):
        result.note = f"created namespace {namespace}"
    for spec, data, origin in planned:
        live = existing[spec.name]
        if data is None:
            result.secrets.append(SecretInitRow(spec.name, "kept", live.keys, "exists; --force replaces it"))
            continue
        body = _manifest(spec.name, namespace, data, spec.purpose)
        if live is None:
            action = "would create" if dry_run else "created"
            if not dry_run:
                try:
                    Secret.create(kube, body)
                except Conflict:
                    action = "kept"  # created meanwhile by someone else: theirs wins, as without --force
        else:
            action = "would replace" if dry_run else "replaced"
            if not dry_run:
                live.replace(body)
        result.secrets.append(SecretInitRow(spec.name, action, [k.key for k in spec.keys], ", ".join(f"{k}={v}" for k, v in origin.items())))
    return result


# Secret -> (keys a running server holds too, the `secrets rotate` name)
SERVER_KEYS = {"postgresql-secret": (("password", "username", "database"), "postgres"), "redis-secret": (("password",), "redis")}


def refuse_server_change(kube, namespace: str, name: str, old: dict[str, str], new: dict[str, str]) -> None:
    """`init --force` must not change a credential the server already uses: PostgreSQL keeps the
    password in its data directory (POSTGRES_PASSWORD only seeds initdb), so the Secret alone
    would change and every app would fail at its next start. Allowed when nothing uses it yet
    (no pod, no data volume) or the server already accepts the new value (a repair)."""
    from tripgenctl.ops import credentials

    if name not in SERVER_KEYS:
        return
    keys, rotate_name = SERVER_KEYS[name]
    changed = [k for k in keys if old.get(k) and new.get(k) != old.get(k)]
    if not changed:
        return
    w = kube.config.workloads
    pod_name, claim = (w.postgres_pod, f"data-{w.postgres_pod}") if rotate_name == "postgres" else (w.redis_pod, None)
    pod = Pod.get(kube, pod_name, namespace, missing_ok=True)
    data = claim is not None and kube.get_object("v1", "PersistentVolumeClaim", claim, namespace) is not None
    if pod is None and not data:
        return  # no server holds it yet: the Secret is the only copy
    where = f"PostgreSQL ({pod_name}{', data volume ' + claim if data else ''})" if rotate_name == "postgres" else f"Redis ({pod_name})"
    if changed == ["password"] and pod is not None and kube.namespace == namespace:
        user = new.get("username") or "postgres"
        accepted, _ = credentials.postgres_accepts(kube, user, new["password"]) if rotate_name == "postgres" else credentials.redis_accepts(kube, new["password"])
        if accepted:
            return  # the server already has this value: the Secret catches up with it
    if changed == ["password"]:
        raise UsageError(f"secrets init --force would replace the password in {name}, which the running {where} uses; the server would keep the old one "
                         f"and every app would fail at its next start: change it with `tripgenctl secrets rotate {rotate_name} -n {namespace}` (nothing was changed)")
    raise UsageError(f"secrets init --force would change {', '.join(changed)} in {name}, which {where} uses; `secrets rotate` changes passwords only: "
                     "rename it in the server first (nothing was changed)")


def check(kube, namespace: str) -> SecretsCheckResult:
    """Each Secret, its keys, present and non-empty: names and booleans only."""
    rows: list[SecretKeyRow] = []
    missing_secrets: list[str] = []
    for spec in SPECS:
        live = Secret.get(kube, spec.name, namespace, missing_ok=True)
        if live is None:
            missing_secrets.append(spec.name)
            rows.extend(SecretKeyRow(spec.name, k.key, False, False) for k in spec.keys)
            continue
        expected = [k.key for k in spec.keys]
        for key in expected + sorted(set(live.keys) - set(expected)):
            rows.append(SecretKeyRow(spec.name, key, live.present(key), live.non_empty(key)))
    ok = not missing_secrets and all(r.present and r.non_empty for r in rows)
    return SecretsCheckResult(namespace=namespace, ok=ok, missing_secrets=missing_secrets, keys=rows)

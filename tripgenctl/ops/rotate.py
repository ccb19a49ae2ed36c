"""`secrets rotate`: change a credential in the server that checks it and in its Secret together,
restart the workloads that read it one after the other (each must roll out Ready, which for the
apps means their health indicators logged in with the new value), and on any failure put the old
value back in both places and return the restarted workloads to it.

Order, and why:
1. pre-flight (nothing changed yet): the Secret's current value must authenticate to the server
   now and every dependent workload must be Ready, or a failure afterwards could not be told
   from one that was there before;
2. the server (ALTER ROLE with a SCRAM verifier; Redis CONFIG SET requirepass and matching ACL
   users), verified with a fresh look: new accepted, old refused;
3. the Secret (a resourceVersion-guarded PUT of that one key);
4. restarts in order: Redis itself first for a Redis rotation (its readiness probe and redis-cli
   read the password from the environment, so the pod must start again; the cache is emptied),
   then the apps in the configured order. PostgreSQL is not restarted: the password lives in
   its data directory and POSTGRES_PASSWORD is only read by initdb.

The plan (steps) is built before anything changes; `--dry-run` returns it; the one confirmation
question is asked through the `confirm` callback just before step 2."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from tripgenctl.errors import ProblemFound, ToolError, UsageError
from tripgenctl.kube import workloads as kw
from tripgenctl.kube.secrets import Secret
from tripgenctl.ops import credentials, restart
from tripgenctl.ops import secrets as secret_specs


@dataclass(frozen=True)
class Credential:
    name: str
    secret: str
    key: str
    variable: str  # where a chosen new value comes from (environment / --env-file)
    server: str | None = None  # postgres | redis: a server holds it too
    generated: bool = True  # False: only a person can supply it (Azure, OpenAI)


CREDENTIALS: dict[str, Credential] = {c.name: c for c in (
    Credential("postgres", "postgresql-secret", "password", "POSTGRES_PASSWORD", server="postgres"),
    Credential("redis", "redis-secret", "password", "REDIS_PASSWORD", server="redis"),
    Credential("jwt", "jwt-secret", "secret", "JWT_SECRET"),
    Credential("servicebus", "servicebus-connection", "connection-string", "SERVICEBUS_CONNECTION_STRING", generated=False),
    Credential("openai", "openai-api-key", "api-key", "OPENAI_API_KEY", generated=False),
)}


@dataclass
class RotateStep:
    order: int
    step: str
    result: str  # planned | done | failed | skipped | undone | undo failed | not run
    detail: str = ""

    __table__ = ("order", "step", "result", "detail")


@dataclass
class RotateResult:
    credential: str
    secret: str
    context: str
    namespace: str
    dry_run: bool
    ok: bool
    message: str
    steps: list[RotateStep] = field(default_factory=list)

    __sections__ = ("steps",)


@dataclass
class _Plan:
    cred: Credential
    secret_obj: Secret
    old: str = field(repr=False)
    new: str = field(repr=False)
    username: str = ""
    role: credentials.RoleState | None = None
    workloads: list[restart.Workload] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (ref, why not restarted)


def get_credential(name: str) -> Credential:
    if name not in CREDENTIALS:
        raise UsageError(f"unknown credential {name!r} (known: {', '.join(CREDENTIALS)})")
    return CREDENTIALS[name]


def _new_value(cred: Credential, values: dict[str, str], old: str) -> str:
    new = values.get(cred.variable) or ""
    if not new:
        if not cred.generated:
            raise UsageError(f"set {cred.variable} (environment or --env-file) to the new value: the {cred.secret} value cannot be generated")
        spec = next(s for s in secret_specs.SPECS if s.name == cred.secret)
        new = next(k for k in spec.keys if k.key == cred.key).generate()  # type: ignore[misc]
    bad = secret_specs.problems({cred.variable: new})
    if bad:
        raise UsageError("; ".join(bad))
    if new == old:
        raise UsageError(f"{cred.variable} equals the current value of {cred.secret}: nothing to rotate")
    return new


def _dependents(kube, cred: Credential, cfg) -> tuple[list[restart.Workload], list[tuple[str, str]]]:
    """Workloads whose pod template reads the Secret, in restart order."""
    apps = list(cfg.workloads.apps)
    found: list[restart.Workload] = []
    skipped: list[tuple[str, str]] = []
    for kind in ("StatefulSet", "Deployment"):
        for live in kw.list_kind(kube, kind):
            if not restart.references_secret(live.raw, cred.secret):
                continue
            w = restart.of(live.raw, kind)
            if kind == "StatefulSet" and w.name == cfg.workloads.postgres and cred.server == "postgres":
                skipped.append((w.ref, "not restarted: the password lives in its data directory (POSTGRES_PASSWORD only seeds initdb)"))
                continue
            if w.replicas == 0:
                skipped.append((w.ref, "scaled to 0: its pods read the new value when it is scaled up"))
                continue
            found.append(w)

    def order(w: restart.Workload) -> tuple:
        if w.kind == "StatefulSet":
            return (0, w.name != cfg.workloads.redis, w.name)
        return (1, apps.index(w.name) if w.name in apps else len(apps), w.name)

    return sorted(found, key=order), skipped


def _preflight(kube, cred: Credential, cfg, values: dict[str, str]) -> _Plan:
    from tripgenctl.ops import postgres
    from tripgenctl.ops.deploy import workload_status

    secret = Secret.get(kube, cred.secret, missing_ok=True)
    if secret is None:
        raise ProblemFound(f"secret {cred.secret} does not exist: create it with `tripgenctl secrets init -n {kube.namespace}`")
    old = secret.value(cred.key, "")
    if not old:
        raise ProblemFound(f"secret {cred.secret} has no value in key {cred.key!r}: set it with `tripgenctl secrets init --force`")
    plan = _Plan(cred, secret, old, _new_value(cred, values, old))
    if cred.server == "postgres":
        plan.username = secret.value("username") or "postgres"
        postgres.require_ready(kube)
        plan.role = credentials.read_role(kube, plan.username)
        if not credentials.password_matches(old, plan.role.verifier, plan.username):
            raise ProblemFound(f"the password in {cred.secret} does not authenticate as role {plan.username!r} now: the Secret and PostgreSQL "
                               "already disagree (see `tripgenctl doctor`); put the server's password back in the Secret first")
    elif cred.server == "redis":
        ok, detail = credentials.redis_accepts(kube, old)
        if not ok:
            raise ProblemFound(f"the password in {cred.secret} does not authenticate to Redis now ({detail}): put the server's password back in the Secret first")
    plan.workloads, plan.skipped = _dependents(kube, cred, cfg)
    for w in plan.workloads:
        obj = kube.get_object("apps/v1", w.kind, w.name, kube.namespace)
        obj.setdefault("kind", w.kind)
        st = workload_status(obj)
        if not st.done:
            raise ProblemFound(f"{w.ref} is not rolled out and Ready before the rotation ({st.detail}): fix it first, the rotation checks each workload after restarting it")
    return plan


def _server_step(plan: _Plan) -> str:
    if plan.cred.server == "postgres":
        return f"PostgreSQL: ALTER ROLE {plan.username} PASSWORD (a SCRAM verifier), then check: new accepted, old refused"
    if plan.cred.server == "redis":
        return "Redis: CONFIG SET requirepass (and ACL users holding the old password), then check: new accepted, old refused"
    return ""


def _planned_steps(plan: _Plan) -> list[RotateStep]:
    steps = []
    if plan.cred.server:
        steps.append(RotateStep(0, _server_step(plan), "planned"))
    steps.append(RotateStep(0, f"secret {plan.cred.secret}: key {plan.cred.key} set to the new value", "planned"))
    for w in plan.workloads:
        note = "the cache is emptied (Redis keeps no data on disk)" if w.kind == "StatefulSet" and plan.cred.server == "redis" else "must roll out Ready"
        steps.append(RotateStep(0, f"restart {w.ref}", "planned", note))
    for ref, why in plan.skipped:
        steps.append(RotateStep(0, ref, "skipped", why))
    for i, s in enumerate(steps, 1):
        s.order = i
    return steps


def _question(plan: _Plan, kube) -> str:
    restarts = ", ".join(w.ref for w in plan.workloads) or "none"
    where = f"{kube.context_name}/{kube.namespace}"
    server = {"postgres": "PostgreSQL and ", "redis": "Redis and "}.get(plan.cred.server or "", "")
    return f"Rotate {plan.cred.name} in {server}secret {plan.cred.secret} on {where}, then restart in order: {restarts}. Continue?"


def _put_secret(kube, plan: _Plan, value: str) -> None:
    live = Secret.get(kube, plan.cred.secret, missing_ok=True) or plan.secret_obj
    live.update({plan.cred.key: value})


def _set_server(kube, plan: _Plan, to_new: bool) -> None:
    """Server side of a rotation (to_new) or of its undo."""
    if plan.cred.server == "postgres":
        verifier = credentials.scram_verifier(plan.new) if to_new else plan.role.verifier  # type: ignore[union-attr]
        credentials.set_role_verifier(kube, plan.username, verifier)
        now = credentials.read_role(kube, plan.username)
        want, not_want = (plan.new, plan.old) if to_new else (plan.old, plan.new)
        if not credentials.password_matches(want, now.verifier, plan.username) or credentials.password_matches(not_want, now.verifier, plan.username):
            raise ToolError("PostgreSQL did not store the password as sent")
    elif plan.cred.server == "redis":
        old, new = (plan.old, plan.new) if to_new else (plan.new, plan.old)
        if not to_new and credentials.redis_accepts(kube, new)[0] and not credentials.redis_accepts(kube, old)[0]:
            return  # the change never reached the server: nothing to undo
        credentials.redis_change_password(kube, old, new)
        problem = credentials.redis_verify(kube, new, old)
        if problem:
            raise ToolError(f"Redis after CONFIG SET: {problem}")


def rotate(kube, name: str, cfg, values: dict[str, str], confirm: Callable[[str], None], dry_run: bool = False,
           timeout: float = 300.0, say: Callable[[str], None] | None = None) -> RotateResult:
    cred = get_credential(name)
    say = say or (lambda _m: None)
    plan = _preflight(kube, cred, cfg, values)
    steps = _planned_steps(plan)
    result = RotateResult(cred.name, cred.secret, kube.context_name, kube.namespace, dry_run, True, "", steps)
    if dry_run:
        result.message = f"dry run: nothing changed; {len(plan.workloads)} workload(s) would restart"
        return result
    confirm(_question(plan, kube))

    done: dict[str, bool] = {"server": False, "secret": False}
    touched: list[restart.Workload] = []
    todo = iter(s for s in steps if s.result == "planned")

    def run(step: RotateStep, fn: Callable[[], str | None]) -> None:
        say(f"{step.step} ...")
        detail = fn()
        step.result, step.detail = "done", detail or step.detail
        say(f"{step.step}: done")

    current: RotateStep | None = None
    try:
        if cred.server:
            current = next(todo)
            done["server"] = True  # before: a half-done change is undone too (the undo is idempotent)
            run(current, lambda: _set_server(kube, plan, True))
        current = next(todo)
        done["secret"] = True
        run(current, lambda: _put_secret(kube, plan, plan.new))
        for w in plan.workloads:
            current = next(todo)
            touched.append(w)
            restart.restart(kube, w)
            say(f"restart {w.ref}: waiting for the rollout")
            ok, why = restart.wait_ready(kube, w, timeout)
            if not ok:
                raise ToolError(why)
            current.result, current.detail = "done", "rolled out Ready"
            say(f"restart {w.ref}: rolled out Ready")
        current = None
    except BaseException as exc:  # noqa: BLE001 - every failure, Ctrl-C included, puts the old value back
        why = exc.message if isinstance(exc, ToolError) else ("interrupted" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}")
        if current is not None:
            current.result, current.detail = "failed", why
        for s in steps:
            if s.result == "planned":
                s.result = "not run"
        clean = _undo(kube, plan, done, touched, steps, timeout, say)
        failed_at = current.step if current is not None else "the rotation"
        state = (f"rolled back: {'the server and ' if cred.server else ''}{cred.secret} hold the old value again"
                 if clean else "ROLLBACK INCOMPLETE: see the steps marked 'undo failed'")
        result.ok = False
        result.message = f"rotation failed at {failed_at}: {why}; {state}"
        if not isinstance(exc, Exception):
            raise  # KeyboardInterrupt / SystemExit: after the undo, the caller's exit code
        return result
    result.message = f"{cred.name} rotated: {'the server, ' if cred.server else ''}{cred.secret} and {len(touched)} restarted workload(s) use the new value"
    return result


def _undo(kube, plan: _Plan, done: dict[str, bool], touched: list[restart.Workload], steps: list[RotateStep],
          timeout: float, say: Callable[[str], None]) -> bool:
    """Old value back in the server, then the Secret, then every touched workload (newest first)
    returned to its previous template, each waited for. True when all of it worked."""
    clean = True

    def attempt(label: str, fn: Callable[[], None]) -> None:
        nonlocal clean
        n = len(steps) + 1
        try:
            say(f"undo: {label} ...")
            fn()
            steps.append(RotateStep(n, f"undo: {label}", "undone"))
        except ToolError as exc:
            clean = False
            steps.append(RotateStep(n, f"undo: {label}", "undo failed", exc.message))

    if done["server"]:
        attempt(f"{plan.cred.server}: old password back", lambda: _set_server(kube, plan, False))
    if done["secret"]:
        attempt(f"secret {plan.cred.secret}: old value back", lambda: _put_secret(kube, plan, plan.old))
    for w in reversed(touched):
        def back(w=w) -> None:
            restart.undo(kube, w)
            ok, why = restart.wait_ready(kube, w, timeout)
            if not ok:
                raise ToolError(why)
        attempt(f"{w.ref}: previous pods back", back)
    return clean

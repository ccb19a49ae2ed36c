"""Image -> how to run it as a local process. The kubelet hands over a container whose env,
command and args are already resolved and path-mapped; a runtime returns a LaunchPlan.

- postgres / bitnami/postgresql without a command: real PostgreSQL 16 (pg_entrypoint.py)
- redis / bitnami/redis without a command: real redis-server, forced onto the pod IP
- tripgendev.azurecr.io/<service> in the catalog: the stand-in Spring Boot app
- nginx without a command: a stand-in serving the stock index page (runtimes/nginx.py)
- mcr.microsoft.com (AKS add-ons in kube-system): an idle stand-in
- python (any tag): the command, or python3, with the sandbox's real CPython on PATH
- anything else pullable: the command (or the image's default entrypoint) with local binaries
"""

from __future__ import annotations

import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tripgen_sandbox.config import REGISTRY, SERVICES, SandboxConfig
from tripgen_sandbox.runtimes import binaries
from tripgen_sandbox.runtimes.images import ImagePullError, ImageRef, parse_image, pull

__all__ = ["ContainerContext", "LaunchPlan", "ImagePullError", "ImageRef", "parse_image", "pull", "plan"]

POSTGRES_REPOS = ("postgres", "bitnami/postgresql")
REDIS_REPOS = ("redis", "bitnami/redis")
# the images' ENTRYPOINT and CMD: `args` replace CMD only, `command` replaces both
DEFAULT_ENTRYPOINTS = {f"{REGISTRY}/tripgenctl": ["tripgenctl"]}
DEFAULT_CMDS = {"busybox": ["sh"], "alpine": ["/bin/sh"], "python": ["python3"], f"{REGISTRY}/tripgenctl": ["--help"]}


@dataclass
class ContainerContext:
    config: SandboxConfig
    namespace: str
    pod_name: str
    container: dict
    pod_ip: str
    env: dict[str, str]
    command: list[str] | None  # resolved: $(VAR) expanded, paths and service names mapped
    args: list[str] | None
    mounts: dict[str, Path]  # mountPath -> host path
    scratch: Path  # the pod's private directory (paths outside any volume land under rootfs/)
    private_dir: Path  # short per-container directory (sockets, shims)

    def host_path(self, path: str) -> Path:
        for mount in sorted(self.mounts, key=len, reverse=True):
            if path == mount or path.startswith(mount.rstrip("/") + "/"):
                return self.mounts[mount] / path[len(mount):].lstrip("/")
        return self.scratch / "rootfs" / path.lstrip("/")

    def port(self, default: int) -> int:
        for p in self.container.get("ports") or []:
            if p.get("containerPort"):
                return int(p["containerPort"])
        return default


@dataclass
class LaunchPlan:
    kind: str  # postgres | redis | standin | generic
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)  # added to the container env
    bin_dirs: list[Path] = field(default_factory=list)  # before the shared shims on PATH
    stop_signal: int = signal.SIGTERM
    port: int | None = None
    workdir: str | None = None  # the image's WORKDIR, when the pod does not set workingDir


def plan(ctx: ContainerContext, ref: ImageRef) -> LaunchPlan:
    if ref.registry == "mcr.microsoft.com":
        return _system_standin()
    if ref.repository == "nginx" and not ctx.command:
        return _nginx(ctx)
    if ref.repository in POSTGRES_REPOS and not ctx.command:
        return _postgres(ctx, ref)
    if ref.repository in REDIS_REPOS and not ctx.command:
        return _redis(ctx, ref)
    if ref.repository.startswith(REGISTRY + "/") and ref.name in SERVICES and not ctx.command:
        return _standin(ctx)
    return _generic(ctx, ref)


def _postgres(ctx: ContainerContext, ref: ImageRef) -> LaunchPlan:
    bitnami = ref.repository.startswith("bitnami/")
    sock = ctx.private_dir / "pg"
    port = ctx.port(5432)
    if bitnami:
        data = ctx.env.get("POSTGRESQL_DATA_DIR") or "/bitnami/postgresql/data"
        initdb_d = "/docker-entrypoint-initdb.d"
    else:
        data = ctx.env.get("PGDATA") or "/var/lib/postgresql/data"
        initdb_d = "/docker-entrypoint-initdb.d"
    pgdata = Path(data) if _is_mapped(ctx, data) else ctx.host_path(data)
    env = {
        "TGSB_PG_BIN": str(binaries.pg_bin_dir()),
        "TGSB_PGDATA": str(pgdata),
        "TGSB_PG_SOCKET_DIR": str(sock),
        "TGSB_PG_LISTEN": ctx.pod_ip,
        "TGSB_PG_PORT": str(port),
        "TGSB_PG_INITDB_D": str(ctx.host_path(initdb_d)) if initdb_d in ctx.mounts else "",
        "TGSB_PG_FLAVOR": "bitnami" if bitnami else "official",
        "PGHOST": str(sock),
        "PGPORT": str(port),
        "PGDATA": str(pgdata),
    }
    script = Path(__file__).with_name("pg_entrypoint.py")
    return LaunchPlan("postgres", [sys.executable, str(script)] + list(ctx.args or []), env, [], signal.SIGINT, port)


def _is_mapped(ctx: ContainerContext, path: str) -> bool:
    """True when path was already rewritten to a host path (env values are path-mapped)."""
    return any(path == str(h) or path.startswith(str(h) + "/") for h in ctx.mounts.values())


def _redis(ctx: ContainerContext, ref: ImageRef) -> LaunchPlan:
    args = list(ctx.args or [])
    if args and args[0] == "redis-server":
        args = args[1:]
    port = ctx.port(6379)
    for i, a in enumerate(args[:-1]):
        if a == "--port" and args[i + 1].isdigit():
            port = int(args[i + 1])
    if ref.repository.startswith("bitnami/") and ctx.env.get("REDIS_PASSWORD") and "--requirepass" not in args:
        args += ["--requirepass", ctx.env["REDIS_PASSWORD"]]
    data = ctx.host_path("/data" if not ref.repository.startswith("bitnami/") else "/bitnami/redis/data")
    data.mkdir(parents=True, exist_ok=True)
    argv = [binaries.redis_server()] + args + ["--bind", ctx.pod_ip, "--port", str(port), "--daemonize", "no", "--dir", str(data), "--protected-mode", "no"]
    shim = binaries.redis_cli_shim(ctx.private_dir / "bin", ctx.pod_ip, port)
    return LaunchPlan("redis", argv, {}, [shim], signal.SIGTERM, port)


def _standin(ctx: ContainerContext) -> LaunchPlan:
    port = ctx.port(8080)
    env = {"TRIPGEN_STANDIN_HOST": ctx.pod_ip, "TRIPGEN_STANDIN_PORT": str(port), "TRIPGEN_STANDIN_NAME": ctx.container.get("name", "app"), "PYTHONUNBUFFERED": "1"}
    return LaunchPlan("standin", [sys.executable, "-m", "tripgen_sandbox.standin"] + list(ctx.args or []), env, [], signal.SIGTERM, port)


def _system_standin() -> LaunchPlan:
    """An AKS add-on (coredns, kube-proxy, the CSI node plugins …): idles, costing nothing."""
    return LaunchPlan("generic", ["sleep", "infinity"], {}, [], signal.SIGTERM, None)


def _nginx(ctx: ContainerContext) -> LaunchPlan:
    """The nginx image's default: serve /usr/share/nginx/html (the stock index page unless a
    volume brings its own) on port 80 of the pod IP; SIGQUIT is its graceful stop."""
    html = ctx.host_path("/usr/share/nginx/html")
    env = {"TGSB_NGINX_ROOT": str(html), "TGSB_NGINX_HOST": ctx.pod_ip, "TGSB_NGINX_PORT": str(ctx.port(80)), "PYTHONUNBUFFERED": "1"}
    return LaunchPlan("generic", [sys.executable, "-m", "tripgen_sandbox.runtimes.nginx"], env, [], signal.SIGQUIT, ctx.port(80))


def _generic(ctx: ContainerContext, ref: ImageRef) -> LaunchPlan:
    if ctx.command:
        argv = list(ctx.command) + list(ctx.args or [])
    else:
        entry = DEFAULT_ENTRYPOINTS.get(ref.repository, [])
        args = ctx.args if ctx.args is not None else DEFAULT_CMDS.get(ref.repository, [] if ref.repository in POSTGRES_REPOS + REDIS_REPOS else ["sh"])
        argv = list(entry) + list(args)
    if ref.repository == f"{REGISTRY}/tripgenctl":
        return _tripgenctl(argv)
    return LaunchPlan("generic", argv, {}, [], signal.SIGTERM, None)


def _tripgenctl(argv: list[str]) -> LaunchPlan:
    """The Dockerfile's image: the project installed in a virtualenv whose bin directory is first
    on PATH (so `tripgenctl` and `python` are the project's own), unbuffered, WORKDIR /app."""
    env = {"PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    venv_bin = Path(sys.prefix) / "bin"
    bin_dirs = [venv_bin] if (venv_bin / "tripgenctl").exists() else []  # else the shared shim
    return LaunchPlan("generic", argv, env, bin_dirs, signal.SIGTERM, None, workdir="/app")

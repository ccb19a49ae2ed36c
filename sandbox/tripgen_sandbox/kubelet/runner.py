"""One container's life in a pod: pull, configure, start, probe, watch memory, and restart with
exponential back-off per the pod's restartPolicy -- keeping the status fields a kubelet reports
(state, lastState, restartCount, ready, started) and recording its events."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from tripgen_sandbox import metrics
from tripgen_sandbox.kubelet import probes, satoken
from tripgen_sandbox.kubelet.env import ContainerConfigError, expand, resolve_env
from tripgen_sandbox.kubelet.pathmap import PathMap, service_hosts
from tripgen_sandbox.kubelet.process import ContainerProcess, kill_tree
from tripgenctl import quantity
from tripgen_sandbox.kubelet.view import HOME as VIEW_HOME
from tripgen_sandbox.kubelet.view import ContainerView, Mount, home_mounts, mounts_for
from tripgen_sandbox.kubelet.volumes import VolumeError, container_mounts
from tripgen_sandbox.runtimes import ContainerContext, ImagePullError, LaunchPlan, plan, pull
from tripgen_sandbox.store import now_iso

if TYPE_CHECKING:
    from tripgen_sandbox.kubelet.node import PodContext

log = logging.getLogger(__name__)


class StartError(Exception):
    """The runtime could not start the process (exit 128, reason StartError)."""


class ExecContext:
    """What an exec or exec probe inherits from the container: env, cwd, name mapping, and the
    container's filesystem view (entered while the container runs, else built afresh)."""

    def __init__(self, env: dict[str, str], cwd: Path, pathmap: PathMap, wrapper: list[str], view: ContainerView | None = None, main_pid=None):
        self.env = env
        self.cwd = cwd
        self.pathmap = pathmap
        self.wrapper = wrapper
        self.view = view
        self.main_pid = main_pid  # () -> pid of the running container process, or None

    def argv(self, command: list[str], main: bool = False) -> list[str]:
        argv = self.pathmap.rewrite_argv(list(command))
        if not argv:
            raise StartError("exec: no command")
        exe = argv[0]
        if self.view is not None:
            # the process resolves it inside its view: check through the mounts, keep the name
            if "/" not in exe:
                if not self.view.which(exe, self.env.get("PATH", "")):
                    raise StartError(f'exec: "{exe}": executable file not found in $PATH')
            elif exe.startswith("/") and not self.view.host_path(exe).exists():
                raise StartError(f'exec: "{exe}": stat {exe}: no such file or directory')
            return self.prefix(main) + argv
        if "/" not in exe:
            found = shutil.which(exe, path=self.env.get("PATH"))
            if not found:
                raise StartError(f'exec: "{exe}": executable file not found in $PATH')
            argv[0] = found
        elif not os.path.exists(exe):
            raise StartError(f'exec: "{exe}": stat {exe}: no such file or directory')
        return self.wrapper + argv

    def prefix(self, main: bool = False) -> list[str]:
        if self.view is None:
            return self.wrapper
        if main:
            return self.view.run_prefix(main=True)
        pid = self.main_pid() if self.main_pid is not None else None
        if pid and self.view.ready_pid() == pid:
            return self.view.enter_prefix(pid)
        return self.view.run_prefix(main=False)

    async def spawn(self, command: list[str], tty: bool = False, stdin: bool = True) -> asyncio.subprocess.Process:
        env = dict(self.env, TERM="xterm") if tty else self.env
        return await asyncio.create_subprocess_exec(
            *self.argv(command), stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT if tty else asyncio.subprocess.PIPE,
            env=env, cwd=str(self.cwd), start_new_session=True,
        )


class ContainerRunner:
    def __init__(self, worker: "PodContext", spec: dict, init: bool, previous: dict | None):
        self.w = worker
        self.spec = spec
        self.name = spec["name"]
        self.init = init
        self.state: dict = {"waiting": {"reason": "PodInitializing" if (worker.has_init and not init) else "ContainerCreating"}}
        self.last_state: dict = {}
        self.restart_count = 0
        self.ready = False
        self.started = False
        self.container_id: str | None = None
        self.image_id = ""
        self.proc: ContainerProcess | None = None
        self.exec_ctx: ExecContext | None = None
        self.plan: LaunchPlan | None = None
        self.done = False  # terminated for good (no restart will follow)
        self.exit_code: int | None = None
        self.stop_event = asyncio.Event()
        self._oom = False
        self._liveness_kill = False
        self._failures = 0
        self._pull_failures = 0
        if previous:
            self._adopt(previous)

    # ---- adoption after a sandbox restart ----------------------------------------------
    def _adopt(self, prev: dict) -> None:
        self.restart_count = int(prev.get("restartCount") or 0)
        state = prev.get("state") or {}
        if "running" in state or "terminated" in state:
            self.restart_count += 1
            term = state.get("terminated") or {
                "exitCode": 255, "reason": "Unknown", "startedAt": state.get("running", {}).get("startedAt"), "finishedAt": now_iso(),
                **({"containerID": prev["containerID"]} if prev.get("containerID") else {}),
            }
            self.last_state = {"terminated": term}
        elif prev.get("lastState"):
            self.last_state = prev["lastState"]

    # ---- status ------------------------------------------------------------------------
    def status(self) -> dict:
        out = {
            "name": self.name,
            "image": self.spec.get("image", ""),
            "imageID": self.image_id,
            "ready": self.ready,
            "restartCount": self.restart_count,
            "started": self.started if not self.init else "running" in self.state,
            "state": self.state,
            "lastState": self.last_state,
        }
        if self.container_id:
            out["containerID"] = self.container_id
        return out

    def _set(self, state: dict, ready: bool | None = None) -> None:
        self.state = state
        if ready is not None:
            self.ready = ready
        self.w.publish()

    def event(self, reason: str, message: str, type_: str = "Normal") -> None:
        self.w.event(reason, message, type_, field_path=f"spec.{'initContainers' if self.init else 'containers'}{{{self.name}}}")

    # ---- main loop ---------------------------------------------------------------------
    async def run(self) -> int | None:
        """Run (and restart) until the container is done for good or the pod stops."""
        while not self.stop_event.is_set():
            ref = await self._pull()
            if ref is None:
                continue
            try:
                self._prepare(ref)
            except (ContainerConfigError, VolumeError) as exc:
                kind = "FailedMount" if isinstance(exc, VolumeError) else "Failed"
                msg = str(exc)
                self._set({"waiting": {"reason": "CreateContainerConfigError", "message": msg}}, ready=False)
                self.event(kind, msg if kind == "FailedMount" else f"Error: {msg}", "Warning")
                await self._sleep(min(self.w.config.backoff_base, 2.0))
                continue
            rc = await self._run_once()
            if self.stop_event.is_set():
                return rc
            if not self._should_restart(rc):
                self.done = True
                self.w.publish()
                return rc
            delay = self._next_backoff()
            self.last_state = {"terminated": self.state.get("terminated", {})}
            if delay > 0:
                pod = self.w.pod_ref()
                self._set({"waiting": {"reason": "CrashLoopBackOff", "message": f"back-off {_dur(delay)} restarting failed container={self.name} pod={pod}"}}, ready=False)
                self.event("BackOff", f"Back-off restarting failed container {self.name} in pod {pod}", "Warning")
                await self._sleep(delay)
            self.restart_count += 1
        return self.exit_code

    def _should_restart(self, rc: int) -> bool:
        policy = self.w.restart_policy
        if self.init:
            return rc != 0 and policy != "Never"
        return policy == "Always" or (policy == "OnFailure" and rc != 0)

    def _next_backoff(self) -> float:
        cfg = self.w.config
        ran = time.time() - (self.proc.started_at if self.proc and self.proc.started_at else time.time())
        if ran > 2 * cfg.backoff_cap:
            self._failures = 0  # a container that ran long enough starts the back-off afresh
        self._failures += 1
        return min(cfg.backoff_cap, cfg.backoff_base * (2 ** (self._failures - 1)))

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self.stop_event.wait(), timeout=seconds)
        except asyncio.TimeoutError:
            pass

    # ---- image pull --------------------------------------------------------------------
    async def _pull(self):
        image = self.spec.get("image", "")
        k = self.w.services
        policy = self.spec.get("imagePullPolicy") or ("Always" if image.endswith(":latest") or ":" not in image.rsplit("/", 1)[-1] else "IfNotPresent")
        key = (self.w.node, image)
        if policy != "Always" and key in k.pulled:
            ref = pull(self.w.config.catalog, image)
            self.event("Pulled", f'Container image "{image}" already present on machine')
            self.image_id = ref.image_id
            return ref
        self.event("Pulling", f'Pulling image "{image}"')
        t0 = time.monotonic()
        try:
            ref = pull(self.w.config.catalog, image)
        except ImagePullError as exc:
            self._pull_failures += 1
            self._set({"waiting": {"reason": "ErrImagePull", "message": str(exc)}}, ready=False)
            self.event("Failed", f'Failed to pull image "{image}": {exc}', "Warning")
            self.event("Failed", "Error: ErrImagePull", "Warning")
            await self._sleep(min(self.w.config.backoff_base, 1.0))
            if self.stop_event.is_set():
                return None
            delay = min(self.w.config.backoff_cap, self.w.config.backoff_base * (2 ** (self._pull_failures - 1)))
            self._set({"waiting": {"reason": "ImagePullBackOff", "message": f'Back-off pulling image "{image}"'}}, ready=False)
            self.event("BackOff", f'Back-off pulling image "{image}"')
            self.event("Failed", "Error: ImagePullBackOff", "Warning")
            await self._sleep(delay)
            return None
        self._pull_failures = 0
        k.pulled.add(key)
        took = time.monotonic() - t0 + 0.001
        self.event("Pulled", f'Successfully pulled image "{image}" in {_dur(took)} ({_dur(took)} including waiting). Image size: 0 bytes.')
        self.image_id = ref.image_id
        return ref

    # ---- configuration -----------------------------------------------------------------
    def _prepare(self, ref) -> None:
        w = self.w
        k = w.services
        pod = w.current_pod()
        if pod is None:
            raise ContainerConfigError("pod is gone")
        volumes = w.refresh_volumes(pod)
        mounts = container_mounts(self.spec, volumes)
        extra: list[Mount] = []
        if w.sa_dir is not None and satoken.needs_mount(self.spec):
            mounts[satoken.MOUNT_PATH] = w.sa_dir
            extra.append(Mount(satoken.MOUNT_PATH, w.sa_dir, True))
        in_view = k.mountns == "view"
        home_extra = home_mounts(w.pod_dir / "rootfs" / "root", w.config.state_dir, w.config.runtime_dir, k.host_path) if in_view else None
        private_home = home_extra is not None
        services = list(k.store.iter("services"))
        dotted, short = service_hosts(services, w.namespace)
        # inside a view the process sees real paths: only service names are mapped
        pathmap = PathMap({} if in_view else mounts, dotted, short)
        base = k.base_env(w, services, home=VIEW_HOME if private_home else None)
        env = resolve_env(k.store, pod, self.spec, w.pod_ip, w.host_ip, base)
        command = [expand(str(c), env) for c in self.spec["command"]] if self.spec.get("command") else None
        args = [expand(str(a), env) for a in self.spec["args"]] if self.spec.get("args") is not None else None
        if command:
            command = pathmap.rewrite_argv(command)
        if args:
            args = pathmap.rewrite_argv(args)
        env = {k2: (pathmap.rewrite(v) if k2 not in base else v) for k2, v in env.items()}
        private = w.private_dir / self.name
        private.mkdir(parents=True, exist_ok=True)
        ctx = ContainerContext(w.config, w.namespace, w.name, self.spec, w.pod_ip, env, command, args, mounts, w.pod_dir, private)
        lp = plan(ctx, ref)
        path = ":".join([str(d) for d in lp.bin_dirs] + [str(k.shims), k.host_path])
        env.update(lp.env)
        env["PATH"] = path
        env["TRIPGEN_SANDBOX_ID"] = w.config.short_id
        workdir = self.spec.get("workingDir")
        view = None
        if in_view:
            if home_extra:
                extra += home_extra
            view = ContainerView(private / "view", mounts_for(pod, self.spec, mounts, extra), workdir or lp.workdir or "/", k.hosts_file(w))
            view.write()
            cwd = w.pod_dir / "rootfs"
            wrapper: list[str] = []
        else:
            cwd = Path(pathmap.rewrite(workdir)) if workdir else None
            if cwd is None or not cwd.is_dir():
                cwd = w.pod_dir / "rootfs" / (workdir or "").lstrip("/")
                cwd.mkdir(parents=True, exist_ok=True)
            wrapper = k.mountns_wrapper(w) if lp.kind != "postgres" else []
        self.plan = lp
        self.exec_ctx = ExecContext(env, cwd, pathmap, wrapper, view, self._main_pid)

    def _main_pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.running() else None

    # ---- one run -----------------------------------------------------------------------
    async def _run_once(self) -> int:
        assert self.plan is not None and self.exec_ctx is not None
        w = self.w
        self.container_id = "containerd://" + uuid.uuid4().hex + uuid.uuid4().hex
        self._oom = False
        self._liveness_kill = False
        log_path = w.services.log_dir(w) / self.name / f"{self.restart_count}.log"
        faults = w.services.faults
        slow = float(faults.get("pod_startup_seconds", getattr(w.config, "pod_startup_seconds", 0)) or 0)
        if slow > 0:  # a slow node: the runtime takes this long to create the container
            await self._sleep(slow)
            if self.stop_event.is_set():
                return 0
        started = now_iso()
        try:
            argv = self.exec_ctx.argv(self.plan.argv, main=True) if self.plan.kind == "generic" else self.exec_ctx.prefix(main=True) + self.plan.argv
            self.proc = ContainerProcess(argv, self.exec_ctx.env, self.exec_ctx.cwd, log_path, self.plan.stop_signal)
            await self.proc.start()
        except (StartError, OSError) as exc:
            msg = f"failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: {exc}: unknown"
            self.exit_code = 128
            self._set({"terminated": {"exitCode": 128, "reason": "StartError", "message": msg, "startedAt": "1970-01-01T00:00:00Z", "finishedAt": now_iso(), "containerID": self.container_id}}, ready=False)
            self.event("Failed", f"Error: {msg}", "Warning")
            return 128
        self.event("Created", f"Created container {self.name}")
        self.event("Started", f"Started container {self.name}")
        has_startup = bool(self.spec.get("startupProbe")) and not self.init
        has_readiness = bool(self.spec.get("readinessProbe")) and not self.init
        self.started = not has_startup
        # postgres without probes: Ready once the real server accepts connections, not while
        # initdb and the init scripts' socket-only server run (see _postgres_up)
        gate = self.plan.kind == "postgres" and not has_readiness and not has_startup and not self.init
        self._set({"running": {"startedAt": started}}, ready=(not has_readiness and not has_startup and not self.init and not gate))
        tasks = [asyncio.create_task(self._oom_watchdog())]
        if gate:
            tasks.append(asyncio.create_task(self._postgres_up()))
        if not self.init:
            tasks.append(asyncio.create_task(self._probes()))
        try:
            rc = await self.proc.wait()
        finally:
            for t in tasks:
                t.cancel()
            w.services.cpu.forget(self.proc.pid)
        if self._oom:
            rc, reason = 137, "OOMKilled"
        else:
            reason = "Completed" if rc == 0 else "Error"
        self.exit_code = rc
        self.started = False
        self._set({"terminated": {"exitCode": rc, "reason": reason, "startedAt": started, "finishedAt": now_iso(), "containerID": self.container_id}}, ready=False)
        return rc

    async def _postgres_up(self) -> None:
        """Poll the pod's own socket (the init-time server listens elsewhere) until the real
        server accepts a connection, then report the container Ready."""
        import socket as _socket

        sock_path = Path(self.plan.env.get("TGSB_PG_SOCKET_DIR", "")) / f".s.PGSQL.{self.plan.env.get('TGSB_PG_PORT', '5432')}"
        while self.proc is not None and self.proc.running():
            if sock_path.exists():
                s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
                try:
                    s.settimeout(1)
                    s.connect(str(sock_path))
                    self.ready = True
                    self.w.publish()
                    return
                except OSError:
                    pass
                finally:
                    s.close()
            await asyncio.sleep(0.1)

    async def _oom_watchdog(self) -> None:
        limit = quantity.memory_limit(self.spec)
        if not limit or self.proc is None:
            return
        period = self.w.config.memory_poll_interval
        while self.proc.running():
            used = await asyncio.to_thread(metrics.tree_memory, self.proc.pid)
            if used > limit:
                self._oom = True
                log.info("OOM: %s/%s container %s uses %d > %d bytes", self.w.namespace, self.w.name, self.name, used, limit)
                kill_tree(self.proc.pid, signal.SIGKILL)
                return
            await asyncio.sleep(period)

    # ---- probes ------------------------------------------------------------------------
    async def _probe(self, kind: str, spec: dict) -> probes.ProbeResult:
        timeout = float(spec.get("timeoutSeconds", 1))
        host = self.w.pod_ip
        if "httpGet" in spec:
            h = spec["httpGet"]
            port = probes.resolve_port(h.get("port"), self.spec)
            return await probes.http_get(h.get("host") or host, port, h.get("path", "/"), h.get("httpHeaders") or [], timeout)
        if "tcpSocket" in spec:
            t = spec["tcpSocket"]
            return await probes.tcp_socket(t.get("host") or host, probes.resolve_port(t.get("port"), self.spec), timeout)
        if "exec" in spec:
            command = (spec["exec"] or {}).get("command") or []
            return await probes.exec_probe(lambda: self.exec_ctx.spawn(command, stdin=False), timeout)
        if "grpc" in spec:
            return await probes.tcp_socket(host, int(spec["grpc"].get("port", 0)), timeout)
        return probes.ProbeResult(True)

    async def _probe_loop(self, kind: str, spec: dict, on_result) -> None:
        cap = float(getattr(self.w.config, "probe_period_cap", 0) or 0)
        schedule = probes.timing(kind, spec, cap)
        threshold_ok = int(spec.get("successThreshold", 1))
        await asyncio.sleep(schedule.initial_delay)
        fails = oks = 0
        while self.proc is not None and self.proc.running():
            result = await self._probe(kind, spec)
            if result.ok:
                fails, oks = 0, oks + 1
                schedule = probes.timing(kind, spec, cap, succeeded=True)
                if oks >= threshold_ok and await on_result(True):
                    return
            else:
                oks, fails = 0, fails + 1
                self.event("Unhealthy", f"{kind.capitalize()} probe failed: {result.message}"[:1024], "Warning")
                if fails >= schedule.failure_threshold and await on_result(False):
                    return
            await asyncio.sleep(schedule.period)

    async def _probes(self) -> None:
        startup = self.spec.get("startupProbe")
        if startup:
            passed = asyncio.Event()

            async def on_startup(ok: bool) -> bool:
                if ok:
                    self.started = True
                    self.w.publish()
                    passed.set()
                    return True
                await self._kill_for(f"Container {self.name} failed startup probe, will be restarted")
                return True

            await self._probe_loop("startup", startup, on_startup)
            if not passed.is_set():
                return
        loops = []
        readiness = self.spec.get("readinessProbe")
        if readiness:
            async def on_ready(ok: bool) -> bool:
                if ok != self.ready:
                    self.ready = ok
                    self.w.publish()
                return False

            loops.append(self._probe_loop("readiness", readiness, on_ready))
        elif startup:
            self.ready = True
            self.w.publish()
        liveness = self.spec.get("livenessProbe")
        if liveness:
            async def on_live(ok: bool) -> bool:
                if ok:
                    return False
                await self._kill_for(f"Container {self.name} failed liveness probe, will be restarted")
                return True

            loops.append(self._probe_loop("liveness", liveness, on_live))
        if loops:
            await asyncio.gather(*loops)

    async def _kill_for(self, message: str) -> None:
        self.event("Killing", message)
        self._liveness_kill = True
        if self.proc is not None:
            grace = min(float(self.w.grace_seconds()), self.w.services.max_grace)
            asyncio.create_task(self.proc.stop(grace))

    async def stop(self, grace: float) -> None:
        self.stop_event.set()
        if self.proc is not None and self.proc.running():
            self.event("Killing", f"Stopping container {self.name}")
            await self.proc.stop(grace)


def _dur(seconds: float) -> str:
    """Go's time.Duration formatting, enough for events: 10s, 1m20s, 523ms."""
    if seconds < 1:
        return f"{max(int(seconds * 1000), 1)}ms"
    if seconds < 60:
        return f"{seconds:.3g}s" if seconds != int(seconds) else f"{int(seconds)}s"
    m, s = divmod(int(seconds), 60)
    return f"{m}m{s}s"

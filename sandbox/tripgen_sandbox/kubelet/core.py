"""The kubelet of every sandbox node: runs the pods bound to them (spec.nodeName) as local
processes, finishes graceful deletions, and answers the API server's exec/log/metrics needs.
It reacts to store changes and also resyncs periodically, so nothing depends on one event."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import sys
from pathlib import Path

import psutil

from tripgen_sandbox import metrics
from tripgen_sandbox.apierrors import ApiError, not_found
from tripgen_sandbox.kubelet.node import NodeServices
from tripgen_sandbox.kubelet.pod import PodWorker
from tripgen_sandbox.kubelet.process import kill_tree, tree
from tripgen_sandbox.kubelet.runner import ContainerRunner, StartError
from tripgen_sandbox.kubelet.view import NSROOT
from tripgen_sandbox.runtimes.binaries import ensure_shims

log = logging.getLogger(__name__)

RESYNC_SECONDS = 2.0


class Kubelet:
    """Owns the pod workers; the node's shared services (`self.services`, a leaf the workers and
    runners receive) are kept apart so nothing below reaches back up to this class."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.config = cluster.config
        self.store = cluster.store
        self.services = NodeServices(cluster)
        self.workers: dict[str, PodWorker] = {}  # pod uid -> worker
        self.by_name: dict[tuple[str, str], str] = {}  # (ns, name) -> uid
        self.exec_procs: set[asyncio.subprocess.Process] = set()
        self._stopping = False
        self._resync: asyncio.Task | None = None
        self._background: set[asyncio.Task] = set()
        self.frozen: set[tuple[str, str]] = set()  # (ns, pod) whose processes the freeze fault stopped

    # the node's services as the kubelet's own attributes (the API server's proxy, tests)
    max_grace = NodeServices.max_grace

    @property
    def mountns(self) -> str:
        return self.services.mountns

    @mountns.setter
    def mountns(self, value: str) -> None:
        self.services.mountns = value

    @property
    def cpu(self):
        return self.services.cpu

    @property
    def host_path(self) -> str:
        return self.services.host_path

    @property
    def shims(self) -> Path:
        return self.services.shims

    # ---- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        self.config.runtime_dir.mkdir(parents=True, exist_ok=True)
        (self.config.state_dir / "logs").mkdir(parents=True, exist_ok=True)
        ensure_shims(self.shims)
        self.mountns = await self._check_mountns()
        self.store.on_change(self._on_change)
        for pod in list(self.store.iter("pods")):
            self._sync(pod["metadata"]["namespace"], pod["metadata"]["name"])
        self._resync = asyncio.create_task(self._resync_loop())

    async def stop(self) -> None:
        """Stop every process this kubelet started; PostgreSQL gets its fast shutdown (SIGINT)
        first so its data is safe, and anything left over is killed."""
        self._stopping = True
        if self._resync:
            self._resync.cancel()
        for t in list(self._background):
            t.cancel()
        for ns, pod in self.frozen:  # a stopped process cannot shut down cleanly: thaw first
            self._signal_pod(ns, pod, signal.SIGCONT)
        self.frozen = set()
        await asyncio.gather(*(w.stop(self.max_grace) for w in list(self.workers.values())), return_exceptions=True)
        for proc in list(self.exec_procs):
            if proc.returncode is None:
                kill_tree(proc.pid)
        await asyncio.sleep(0)  # let the last status writes run before the store is flushed
        self._sweep()
        shutil.rmtree(self.config.runtime_dir / "c", ignore_errors=True)

    def _sweep(self) -> None:
        marker = f"TRIPGEN_SANDBOX_ID={self.config.short_id}".encode()
        keep = {os.getpid()}
        try:
            keep.update(p.pid for p in psutil.Process().parents())
        except psutil.Error:
            pass
        for proc in psutil.process_iter(["pid"]):
            if proc.pid in keep:
                continue
            try:
                with open(f"/proc/{proc.pid}/environ", "rb") as fh:
                    if marker in fh.read().split(b"\0"):
                        proc.send_signal(signal.SIGKILL)
            except (OSError, psutil.Error):
                continue

    async def _check_mountns(self) -> str:
        """What this machine allows: "view" (a private mount namespace with every volume at its
        mountPath, nsroot.py), "hosts" (only a private /etc/hosts) or "" (argv/env mapping only)."""
        probe_dir = self.config.runtime_dir / "probe"
        spec = probe_dir / "view.json"
        try:
            (probe_dir / "root").mkdir(parents=True, exist_ok=True)
            spec.write_text(json.dumps({"root": str(probe_dir / "root"), "mounts": [
                {"path": "/.tgsb-probe", "source": str(probe_dir), "readOnly": True},  # in the tmpfs root
                {"path": "/etc/.tgsb-probe/x", "source": str(probe_dir)},  # under a shadowed host dir
            ]}))
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-I", "-S", str(NSROOT), "probe", str(spec),
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env={"PATH": self.host_path},
            )
            _, err = await asyncio.wait_for(proc.communicate(), 10)
            if proc.returncode == 0:
                return "view"
            log.info("no private filesystem view for pods: %s", err.decode(errors="replace").strip())
        except (OSError, asyncio.TimeoutError) as exc:
            log.info("no private filesystem view for pods: %s", exc)
        if os.geteuid() != 0 or not shutil.which("unshare"):
            return ""
        try:
            proc = await asyncio.create_subprocess_exec(
                "unshare", "-m", "--propagation", "private", "sh", "-c", "mount --bind /etc/hostname /etc/hosts",
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            )
            return "hosts" if await asyncio.wait_for(proc.wait(), 5) == 0 else ""
        except (OSError, asyncio.TimeoutError):
            return ""

    async def _resync_loop(self) -> None:
        while True:
            await asyncio.sleep(RESYNC_SECONDS)
            try:
                for pod in list(self.store.iter("pods")):
                    self._sync(pod["metadata"]["namespace"], pod["metadata"]["name"])
                for (ns, name) in list(self.by_name):
                    self._sync(ns, name)
                self.apply_freeze()  # a container restarted while frozen is frozen again
            except Exception:  # noqa: BLE001
                log.exception("kubelet resync")

    def _on_change(self, type_: str, key: str, obj: dict) -> None:
        if key != "pods" or self._stopping:
            return
        meta = obj["metadata"]
        try:
            asyncio.get_running_loop().call_soon(self._sync, meta.get("namespace", ""), meta["name"])
        except RuntimeError:
            pass

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _sync(self, ns: str, name: str) -> None:
        if self._stopping:
            return
        pod = self.store.get("pods", ns, name)
        old_uid = self.by_name.get((ns, name))
        if old_uid and (pod is None or pod["metadata"]["uid"] != old_uid):
            worker = self.workers.get(old_uid)
            self.by_name.pop((ns, name), None)
            if worker is not None and not worker.terminating:
                self._spawn(self._finish(worker, delete=False))
        if pod is None:
            return
        meta = pod["metadata"]
        node = (pod.get("spec") or {}).get("nodeName")
        mine = self.services.is_mine(node)
        worker = self.workers.get(meta["uid"])
        if meta.get("deletionTimestamp"):
            if worker is None:
                self._force_delete(ns, name, meta["uid"])
            elif not worker.terminating:
                worker.terminating = True
                self._spawn(self._finish(worker, delete=True))
            return
        if not mine or worker is not None:
            return
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return
        worker = PodWorker(self.services, pod)
        self.workers[meta["uid"]] = worker
        self.by_name[(ns, name)] = meta["uid"]
        worker.start()

    async def _finish(self, worker: PodWorker, delete: bool) -> None:
        grace = min(worker.grace_seconds(), self.max_grace)
        await worker.stop(grace)
        worker.cleanup()
        self.workers.pop(worker.uid, None)
        if self.by_name.get((worker.namespace, worker.name)) == worker.uid:
            self.by_name.pop((worker.namespace, worker.name), None)
        if delete:
            self._force_delete(worker.namespace, worker.name, worker.uid)

    def _force_delete(self, ns: str, name: str, uid: str) -> None:
        pod = self.store.get("pods", ns, name)
        if pod is not None and pod["metadata"]["uid"] == uid:
            try:
                self.store.delete("pods", ns, name, force=True)
            except ApiError:
                pass
        self.store.finish_namespace_deletion(ns)

    # ---- the freeze fault -----------------------------------------------------------------
    def _signal_pod(self, namespace: str, pod: str, sig: int) -> int:
        """Send `sig` to every process of the pod's containers (each whole tree); the count."""
        worker = self._worker(namespace, pod)
        n = 0
        for r in worker.all_runners() if worker else []:
            if r.proc is not None and r.proc.running():
                for proc in tree(r.proc.pid):
                    try:
                        proc.send_signal(sig)
                        n += 1
                    except psutil.Error:
                        pass
        return n

    def apply_freeze(self) -> None:
        """Make the processes match cluster.faults["freeze"] ({"ns/pod": true}): SIGSTOP the
        pods listed (again, for containers started since), SIGCONT the ones no longer listed.
        A frozen Redis or PostgreSQL accepts connections (the kernel does) and never answers,
        which is what a hung server looks like to its clients."""
        wanted = {tuple(k.split("/", 1)) for k, v in (self.cluster.faults.get("freeze") or {}).items() if v and "/" in k}
        for ns, pod in self.frozen - wanted:
            self._signal_pod(ns, pod, signal.SIGCONT)
        for ns, pod in wanted:
            self._signal_pod(ns, pod, signal.SIGSTOP)
        self.frozen = wanted

    def on_fault(self, name: str) -> None:
        """Called by the API server after a fault changed: act on it at once."""
        if name == "freeze":
            self.apply_freeze()

    # ---- interface for the API server --------------------------------------------------
    def _worker(self, namespace: str, pod: str) -> PodWorker | None:
        uid = self.by_name.get((namespace, pod))
        return self.workers.get(uid) if uid else None

    def _runner(self, namespace: str, pod: str, container: str | None) -> tuple[dict, PodWorker | None, ContainerRunner | None, str]:
        obj = self.store.get("pods", namespace, pod)
        if obj is None:
            raise not_found("pods", pod)
        names = [c["name"] for c in obj["spec"].get("containers") or []] + [c["name"] for c in obj["spec"].get("initContainers") or []]
        if not container:
            container = names[0] if names else ""
        if container not in names:
            raise ApiError(400, f"container {container} is not valid for pod {pod}", "BadRequest")
        worker = self._worker(namespace, pod)
        runner = worker.runner(container) if worker and worker.uid == obj["metadata"]["uid"] else None
        return obj, worker, runner, container

    async def exec(self, namespace: str, pod: str, container: str | None, command: list[str], tty: bool = False) -> asyncio.subprocess.Process:
        _, _, runner, container = self._runner(namespace, pod, container)
        if runner is None or runner.proc is None or not runner.proc.running() or runner.exec_ctx is None:
            raise ApiError(400, f'unable to upgrade connection: container not found ("{container}")', "BadRequest")
        try:
            proc = await runner.exec_ctx.spawn(list(command), tty=tty)
        except (StartError, OSError) as exc:
            raise ApiError(500, f"Internal error occurred: error executing command in container: failed to exec in container: failed to start exec \"{(runner.container_id or '')[13:]}\": OCI runtime exec failed: exec failed: unable to start container process: {exc}: unknown", "InternalError")
        self.exec_procs = {p for p in self.exec_procs if p.returncode is None}
        self.exec_procs.add(proc)
        return proc

    def pod_ip(self, namespace: str, pod: str) -> str:
        obj = self.store.get("pods", namespace, pod)
        if obj is None:
            raise not_found("pods", pod)
        worker = self._worker(namespace, pod)
        ip = (worker.pod_ip if worker else "") or (obj.get("status") or {}).get("podIP")
        if not ip:
            raise ApiError(400, f"pod {pod} does not have a host assigned", "BadRequest")
        return ip

    def log_file(self, namespace: str, pod: str, container: str, previous: bool = False) -> Path | None:
        obj = self.store.get("pods", namespace, pod)
        if obj is None:
            return None
        directory = self.config.state_dir / "logs" / f"{namespace}_{pod}_{obj['metadata']['uid']}" / container
        if not directory.is_dir():
            return None
        files = sorted((p for p in directory.glob("*.log") if p.stem.isdigit()), key=lambda p: int(p.stem))
        if not files:
            return None
        worker = self._worker(namespace, pod)
        runner = worker.runner(container) if worker else None
        running = runner is not None and "running" in runner.state
        if not previous:
            return files[-1]
        if running:
            # the newest log is the running instance's (opened before its process starts, while
            # the restart count may not be raised yet): the previous instance is the one before it
            return files[-2] if len(files) >= 2 else None
        # a container waiting to restart: its previous instance is the last one that ran
        return files[-1] if (runner is not None and runner.last_state) or len(files) > 1 else None

    def usage(self, namespace: str, pod: str) -> dict[str, tuple[int, int]]:
        worker = self._worker(namespace, pod)
        if worker is None:
            return {}
        out = {}
        for r in worker.runners:
            if r.proc is not None and r.proc.running():
                out[r.name] = (self.cpu.nanocores(r.proc.pid), metrics.tree_memory(r.proc.pid))
        return out

    def node_usage(self, node: str) -> tuple[int, int]:
        cpu = mem = 0
        for w in list(self.workers.values()):
            if w.node != node:
                continue
            for c, m in self.usage(w.namespace, w.name).values():
                cpu += c
                mem += m
        return cpu, mem

    def stats_summary(self, node: str) -> dict:
        return metrics.stats_summary(self, node)

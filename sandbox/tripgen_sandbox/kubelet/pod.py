"""One pod on a node: its IP, directories and volumes, init containers in order, then the
containers side by side; the pod status (phase, conditions, container statuses) is derived
from the runners and written back coalesced, once per loop turn."""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from tripgen_sandbox.kubelet import satoken
from tripgen_sandbox.kubelet.runner import ContainerRunner
from tripgen_sandbox.kubelet.volumes import VolumeError, materialise
from tripgen_sandbox.store import now_iso

if TYPE_CHECKING:
    from tripgen_sandbox.kubelet.node import NodeServices

log = logging.getLogger(__name__)


class PodWorker:
    def __init__(self, services: "NodeServices", pod: dict):
        meta = pod["metadata"]
        self.services = services
        self.config = services.config
        self.namespace = meta["namespace"]
        self.name = meta["name"]
        self.uid = meta["uid"]
        self.node = pod["spec"]["nodeName"]
        self.host_ip = services.node_ip(self.node)
        self.restart_policy = pod["spec"].get("restartPolicy") or "Always"
        self.has_init = bool(pod["spec"].get("initContainers"))
        self.pod_ip = ""
        self.pod_dir = services.config.state_dir / "pods" / self.namespace / f"{self.name}_{self.uid[:8]}"
        self.private_dir = services.config.runtime_dir / "c" / self.uid[:12]
        self.volumes: dict[str, Path] = {}
        self.sa_dir: Path | None = None  # the service-account token directory, when mounted
        status = pod.get("status") or {}
        prev = {s["name"]: s for s in (status.get("containerStatuses") or [])}
        prev_init = {s["name"]: s for s in (status.get("initContainerStatuses") or [])}
        adopt = bool(status.get("startTime"))
        self.init_runners = [ContainerRunner(self, c, True, prev_init.get(c["name"]) if adopt else None) for c in pod["spec"].get("initContainers") or []]
        self.runners = [ContainerRunner(self, c, False, prev.get(c["name"]) if adopt else None) for c in pod["spec"].get("containers") or []]
        self.start_time = status.get("startTime") or now_iso()
        self.previous_ip = status.get("podIP")
        self.initialized = not self.init_runners
        self.init_failed = False
        self.sandbox_ready = False
        self.terminating = False
        self.task: asyncio.Task | None = None
        self._publish_scheduled = False
        self._conditions: dict[str, dict] = {c["type"]: c for c in status.get("conditions") or []}

    # ---- helpers for runners -----------------------------------------------------------
    def all_runners(self) -> list[ContainerRunner]:
        return self.init_runners + self.runners

    def runner(self, container: str) -> ContainerRunner | None:
        return next((r for r in self.all_runners() if r.name == container), None)

    def pod_ref(self) -> str:
        return f"{self.name}_{self.namespace}({self.uid})"

    def current_pod(self) -> dict | None:
        pod = self.services.store.get("pods", self.namespace, self.name)
        if pod is None or pod["metadata"].get("uid") != self.uid:
            return None
        return pod

    def ports(self) -> list[int]:
        """Ports the pod's processes will listen on (declared, or the runtime's default)."""
        pod = self.current_pod() or {}
        out = []
        for c in (pod.get("spec") or {}).get("containers") or []:
            out += [int(p["containerPort"]) for p in c.get("ports") or [] if p.get("containerPort")]
            image = c.get("image", "")
            out += [5432] if "postgres" in image else [6379] if "redis" in image else [8080] if "azurecr.io" in image else []
        return out

    def grace_seconds(self) -> float:
        pod = self.current_pod() or {}
        meta = pod.get("metadata", {})
        value = meta.get("deletionGracePeriodSeconds")
        if value is None:
            value = (pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
        return float(value)

    def event(self, reason: str, message: str, type_: str = "Normal", field_path: str | None = None) -> None:
        pod = self.current_pod()
        if pod is None:
            return
        try:
            self.services.store.record_event(pod, reason, message, type_=type_, component="kubelet", host=self.node)
        except Exception:  # noqa: BLE001 - an event must never break the pod
            log.debug("event failed", exc_info=True)

    def refresh_volumes(self, pod: dict) -> dict[str, Path]:
        self.volumes = materialise(self.services, pod, self.pod_dir, self.pod_ip, self.host_ip)
        self.sa_dir = satoken.materialise(self.services, pod, self.pod_dir)
        return self.volumes

    # ---- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        self.task = asyncio.create_task(self.run(), name=f"pod {self.namespace}/{self.name}")

    async def run(self) -> None:
        try:
            self.pod_ip = self.services.allocate_ip(self.uid, self.previous_ip, self.ports())
            self.pod_dir.mkdir(parents=True, exist_ok=True)
            (self.pod_dir / "rootfs").mkdir(exist_ok=True)
            self.private_dir.mkdir(parents=True, exist_ok=True)
            self.publish()
            if self.restart_policy == "Never" and any("terminated" in r.last_state and r.restart_count for r in self.runners):
                # the node restarted under a pod that must not be restarted: like a kubelet
                # that finds its container gone, report it failed
                for r in self.runners:
                    r.state = {"terminated": dict(r.last_state["terminated"], reason="ContainerStatusUnknown", exitCode=137, message="The container could not be located when the pod was terminated")} if r.last_state else r.state
                    r.last_state, r.done = {}, True
                    r.restart_count = max(r.restart_count - 1, 0)
                self.publish()
                return
            while not self.terminating:
                pod = self.current_pod()
                if pod is None:
                    return
                try:
                    self.refresh_volumes(pod)
                    break
                except VolumeError as exc:
                    self.event("FailedMount", str(exc), "Warning")
                    await asyncio.sleep(min(self.config.backoff_base, 2.0))
            self.sandbox_ready = True
            self.publish()
            for r in self.init_runners:
                if self.terminating:
                    return
                rc = await r.run()
                if self.terminating:
                    return
                if rc != 0:
                    self.init_failed = True
                    self.publish()
                    return
            self.initialized = True
            for r in self.runners:
                if "waiting" in r.state and r.state["waiting"].get("reason") == "PodInitializing":
                    r.state = {"waiting": {"reason": "ContainerCreating"}}
            self.publish()
            await asyncio.gather(*(r.run() for r in self.runners))
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - one broken pod must not stop the kubelet
            log.exception("pod %s/%s failed", self.namespace, self.name)
        finally:
            self.publish()

    async def stop(self, grace: float) -> None:
        """Stop every container (image stop signal, then SIGKILL after grace)."""
        self.terminating = True
        await asyncio.gather(*(r.stop(grace) for r in self.all_runners()), return_exceptions=True)
        if self.task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self.task), timeout=grace + 5)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                self.task.cancel()
            except Exception:  # noqa: BLE001
                pass

    def cleanup(self) -> None:
        shutil.rmtree(self.pod_dir, ignore_errors=True)
        shutil.rmtree(self.private_dir, ignore_errors=True)
        self.services.release_ip(self.uid)

    # ---- status ------------------------------------------------------------------------
    def publish(self) -> None:
        if self._publish_scheduled:
            return
        self._publish_scheduled = True
        try:
            asyncio.get_running_loop().call_soon(self._flush)
        except RuntimeError:
            self._flush()

    def _flush(self) -> None:
        self._publish_scheduled = False
        if self.current_pod() is None:
            return
        status = self.build_status()

        def apply(pod: dict) -> None:
            pod["status"] = dict(pod.get("status") or {}, **status)

        try:
            self.services.store.mutate("pods", self.namespace, self.name, apply, subresource="status")
        except Exception:  # noqa: BLE001
            log.debug("status write failed", exc_info=True)

    def phase(self) -> str:
        if self.init_failed:
            return "Failed"
        if not self.initialized:
            return "Pending"
        running = waiting = stopped = succeeded = 0
        for r in self.runners:
            if "running" in r.state:
                running += 1
            elif "terminated" in r.state:
                stopped += 1
                if r.state["terminated"].get("exitCode") == 0:
                    succeeded += 1
            elif r.last_state.get("terminated"):
                stopped += 1
            else:
                waiting += 1
        if waiting:
            return "Pending"
        if running:
            return "Running"
        if not self.runners:
            return "Pending"
        if self.restart_policy == "Always":
            return "Running"
        if self.restart_policy == "OnFailure":
            return "Succeeded" if stopped == succeeded and all(r.done for r in self.runners) else "Running"
        if not all(r.done for r in self.runners):
            return "Running"
        return "Succeeded" if stopped == succeeded else "Failed"

    def _condition(self, type_: str, ok: bool, reason: str | None = None, message: str | None = None) -> dict:
        value = "True" if ok else "False"
        old = self._conditions.get(type_)
        cond = {"type": type_, "status": value, "lastProbeTime": None}
        cond["lastTransitionTime"] = old["lastTransitionTime"] if old and old.get("status") == value and old.get("lastTransitionTime") else now_iso()
        if reason:
            cond["reason"] = reason
        if message:
            cond["message"] = message
        self._conditions[type_] = cond
        return cond

    def build_status(self) -> dict:
        phase = self.phase()
        done = phase in ("Succeeded", "Failed")
        unready = [r.name for r in self.runners if not r.ready]
        incomplete = [r.name for r in self.init_runners if not ("terminated" in r.state and r.state["terminated"].get("exitCode") == 0)]
        conditions = [
            self._condition("PodReadyToStartContainers", self.sandbox_ready and not done),
            self._condition("Initialized", not incomplete, None if not incomplete else "ContainersNotInitialized", None if not incomplete else f"containers with incomplete status: [{' '.join(incomplete)}]"),
        ]
        if done:
            ready_reason = "PodCompleted"
            conditions.append(self._condition("Ready", False, ready_reason))
            conditions.append(self._condition("ContainersReady", False, ready_reason))
        else:
            msg = f"containers with unready status: [{' '.join(unready)}]" if unready else None
            conditions.append(self._condition("Ready", not unready, "ContainersNotReady" if unready else None, msg))
            conditions.append(self._condition("ContainersReady", not unready, "ContainersNotReady" if unready else None, msg))
        sched = self._conditions.get("PodScheduled") or {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": self.start_time}
        conditions.append(sched)
        status = {
            "phase": phase,
            "conditions": conditions,
            "hostIP": self.host_ip,
            "hostIPs": [{"ip": self.host_ip}],
            "startTime": self.start_time,
            "qosClass": self.services.qos_class(self),
            "containerStatuses": [r.status() for r in self.runners],
        }
        if self.pod_ip:
            status["podIP"] = self.pod_ip
            status["podIPs"] = [{"ip": self.pod_ip}]
        if self.init_runners:
            status["initContainerStatuses"] = [r.status() for r in self.init_runners]
        return status

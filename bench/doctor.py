"""`tripgenctl doctor` cost: API calls for 6 pods and for 60 pods (must be equal: a fixed set of
list calls), and wall time on the sandbox (target <= 1.5 s for 60 pods).

    .venv/bin/python bench/doctor.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _sandbox import busybox_deployment, sandbox, wait_ready_pods  # noqa: E402


def measure(kubeconfig: Path, namespace: str, pods: int) -> tuple[int, float, list[str]]:
    """(API calls, best wall time of 3 runs, the slowest requests of that run)."""
    from tripgenctl.config import ToolConfig
    from tripgenctl.kube.client import connect
    from tripgenctl.ops.doctor import run_doctor

    kube = connect(kubeconfig=str(kubeconfig), namespace=namespace)
    kube.core.create_namespace({"metadata": {"name": namespace}})
    kube.apps.create_namespaced_deployment(namespace, busybox_deployment("load", pods))
    wait_ready_pods(kube, namespace, pods)
    timings: list[tuple[float, str]] = []
    get_json = kube.get_json

    def timed(path, *args, **kwargs):  # where the time goes: usually the usage reads, server side
        start = time.perf_counter()
        try:
            return get_json(path, *args, **kwargs)
        finally:
            timings.append((time.perf_counter() - start, path))

    kube.get_json = timed
    run_doctor(kube, ToolConfig())  # warm-up (connections, imports)
    best, calls, slowest = float("inf"), 0, []
    for _ in range(3):
        timings.clear()
        start = time.perf_counter()
        report = run_doctor(kube, ToolConfig())
        took = time.perf_counter() - start
        calls = report.api_calls
        if took < best:
            best, slowest = took, [f"{t:.2f}s {p}" for t, p in sorted(timings, reverse=True)[:3]]
    return calls, best, slowest


def main() -> None:
    with sandbox() as kubeconfig:
        small_calls, small_time, _ = measure(kubeconfig, "bench-6", 6)
        big_calls, big_time, slowest = measure(kubeconfig, "bench-60", 60)
    print(f"doctor API calls: 6 pods = {small_calls}, 60 pods = {big_calls}, ratio {big_calls / small_calls:.2f} (target 1.00)")
    print(f"doctor wall time: 6 pods = {small_time:.2f}s, 60 pods = {big_time:.2f}s, ratio {big_time / small_time:.2f} (target for 60 pods <= 1.5 s)")
    print("slowest requests (60 pods): " + "; ".join(slowest))
    if big_calls != small_calls:
        raise SystemExit("API calls grow with the number of pods")
    if big_time > 1.5:
        raise SystemExit(f"doctor took {big_time:.2f}s for 60 pods (target <= 1.5 s)")


if __name__ == "__main__":
    main()

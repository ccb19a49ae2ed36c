"""`tripgenctl status` cost and `up` responsiveness on the sandbox:
- API calls of `status` with 6 and with 60 pods (must be equal: a fixed set of list calls) and
  its wall time for both;
- `up` of 60 pods from 0: the wall time between the moment the last pod is Ready (seen by an
  independent watcher) and `up` returning — what watching instead of polling buys.

    .venv/bin/python bench/status_calls.py
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _sandbox import busybox_deployment, sandbox, wait_ready_pods  # noqa: E402

DATA = ("postgresql", "redis")


def status_cost(kubeconfig: Path, namespace: str, pods: int) -> tuple[int, float]:
    from tripgenctl.kube.client import connect
    from tripgenctl.ops import workloads

    kube = connect(kubeconfig=str(kubeconfig), namespace=namespace)
    kube.core.create_namespace({"metadata": {"name": namespace}})
    dep = busybox_deployment("load", pods)
    dep["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 1
    kube.apps.create_namespaced_deployment(namespace, dep)
    wait_ready_pods(kube, namespace, pods)
    workloads.read(kube, DATA)  # warm-up (connections, imports)
    best, calls = float("inf"), 0
    for _ in range(3):
        kube.calls.clear()
        start = time.perf_counter()
        st = workloads.read(kube, DATA)
        best = min(best, time.perf_counter() - start)
        calls = len(kube.calls)
        assert len(st.pods) == pods, (len(st.pods), pods)
    return calls, best


def up_tail(kubeconfig: Path, namespace: str, pods: int) -> tuple[float, float]:
    """(seconds of the whole up, seconds between the last pod Ready and up returning)."""
    from tripgenctl.kube.client import connect
    from tripgenctl.ops import scaling, waiting, workloads

    kube = connect(kubeconfig=str(kubeconfig), namespace=namespace)
    down = scaling.plan_down(workloads.read(kube, DATA), DATA)
    scaling.run_down(kube, down, "bench", timeout=300)
    plan = scaling.plan_up(workloads.read(kube, DATA), DATA)

    observer = connect(kubeconfig=str(kubeconfig), namespace=namespace)
    seen: dict[str, float] = {}

    def watch() -> None:
        target = waiting.Target("Deployment", "load", pods, {"matchLabels": {"app": "load"}})

        def check(items):
            if waiting.evaluate(target, items).ok:
                seen["ready"] = time.perf_counter()
                return True
            return False

        waiting.watch_list(observer, waiting.pods_path(observer), check, 300)

    start = time.perf_counter()
    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    result = scaling.run_up(kube, plan, DATA, timeout=300)
    end = time.perf_counter()
    thread.join(timeout=30)
    if not result.ok or "ready" not in seen:
        raise SystemExit(f"up failed: {result.message}")
    return end - start, end - seen["ready"]


def main() -> None:
    with sandbox() as kubeconfig:
        small_calls, small_time = status_cost(kubeconfig, "bench-status-6", 6)
        big_calls, big_time = status_cost(kubeconfig, "bench-status-60", 60)
        total, tail = up_tail(kubeconfig, "bench-status-60", 60)
    print(f"status API calls: 6 pods = {small_calls}, 60 pods = {big_calls}, ratio {big_calls / small_calls:.2f} (target 1.00)")
    print(f"status wall time: 6 pods = {small_time * 1000:.0f} ms, 60 pods = {big_time * 1000:.0f} ms, ratio {big_time / small_time:.2f}")
    print(f"up of 60 pods from 0: {total:.2f}s in all; {tail * 1000:.0f} ms after the last pod was Ready ({tail / total * 100:.1f}% of the run)")
    if big_calls != small_calls:
        raise SystemExit("status API calls grow with the number of pods")


if __name__ == "__main__":
    main()

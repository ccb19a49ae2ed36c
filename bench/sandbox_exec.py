"""exec throughput through the sandbox API server, per wire protocol, against a plain local pipe
of the same bytes, and the API server's peak RSS while the bytes pass:

    .venv/bin/python bench/sandbox_exec.py [--size-mb 500] [--state-dir DIR]

Without --state-dir a throw-away sandbox is started (and removed). With it, the sandbox started by
`tripgenctl sandbox start --state-dir DIR` is used (DIR/kubeconfig, context tripgen-sandbox).
Protocols: WebSocket v5 (kubectl 1.32), SPDY/3.1 (kubectl 1.29, and kubectl 1.32 with
KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false). Each run streams SIZE bytes of stdout from
`head -c SIZE /dev/zero` in a busybox pod and SIZE bytes of stdin through `cat` (round trip)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).parent))

KUBECTL = Path("/usr/lib/google-cloud-sdk/bin")
NS = "bench-exec"
POD = f"""
apiVersion: v1
kind: Namespace
metadata: {{name: {NS}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: shell, namespace: {NS}}}
spec:
  containers: [{{name: c, image: "busybox:latest", command: [sleep, "36000"]}}]
"""
CLIENTS = [
    ("WebSocket v5 (kubectl 1.32)", "1.32", {}),
    ("SPDY/3.1 (kubectl 1.29)", "1.29", {}),
    ("SPDY/3.1 (kubectl 1.32, websockets off)", "1.32", {"KUBECTL_REMOTE_COMMAND_WEBSOCKETS": "false"}),
]


class PeakRSS:
    """Samples a process's RSS every 20 ms while the block runs."""

    def __init__(self, pid: int):
        self.proc = psutil.Process(pid)
        self.base = self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()

    def __enter__(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def drain(cmd: list[str], env: dict | None = None, feed: int = 0) -> tuple[float, int]:
    """Run cmd, optionally writing `feed` zero bytes to its stdin, read all stdout; (seconds, bytes)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE if feed else subprocess.DEVNULL, stdout=subprocess.PIPE, env=env)
    if feed:
        def write():
            block = bytes(2**20)
            left = feed
            while left:
                n = min(left, len(block))
                proc.stdin.write(block[:n])
                left -= n
            proc.stdin.close()

        threading.Thread(target=write, daemon=True).start()
    total = 0
    while chunk := proc.stdout.read(2**20):
        total += len(chunk)
    if proc.wait() != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}")
    return time.perf_counter() - start, total


def run(kubeconfig: Path, daemon_pid: int, size: int) -> None:
    env = dict(os.environ, KUBECONFIG=str(kubeconfig))
    k = str(KUBECTL / "kubectl.1.32")
    subprocess.run([k, "apply", "-f", "-"], input=POD.encode(), env=env, check=True, capture_output=True)
    subprocess.run([k, "wait", "--for=condition=Ready", "pod/shell", "-n", NS, "--timeout=90s"], env=env, check=True, capture_output=True)
    mb = size / 2**20
    pipe_out, _ = drain(["head", "-c", str(size), "/dev/zero"])
    pipe_rt, _ = drain(["cat"], feed=size)
    print(f"local pipe: stdout {mb / pipe_out:7.0f} MB/s, stdin->stdout {mb / pipe_rt:7.0f} MB/s  ({mb:.0f} MB)")
    for label, version, extra in CLIENTS:
        kubectl = str(KUBECTL / f"kubectl.{version}")
        with PeakRSS(daemon_pid) as rss:
            t_out, n_out = drain([kubectl, "exec", "shell", "-n", NS, "--", "head", "-c", str(size), "/dev/zero"], env={**env, **extra})
            t_rt, n_rt = drain([kubectl, "exec", "-i", "shell", "-n", NS, "--", "cat"], env={**env, **extra}, feed=size)
        assert n_out == size and n_rt == size, (n_out, n_rt)
        print(
            f"{label:42s} stdout {mb / t_out:6.0f} MB/s = {pipe_out / t_out:5.3f} x pipe;"
            f" stdin->stdout {mb / t_rt:6.0f} MB/s = {pipe_rt / t_rt:5.3f} x pipe;"
            f" API server RSS peak {rss.peak / 2**20:5.0f} MiB (+{(rss.peak - rss.base) / 2**20:.0f} MiB)"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=500)
    ap.add_argument("--state-dir", help="use the sandbox already running with this state dir")
    args = ap.parse_args()
    size = args.size_mb * 2**20
    if args.state_dir:
        state = Path(args.state_dir)
        run(state / "kubeconfig", int((state / "daemon.pid").read_text()), size)
        return
    from _sandbox import sandbox

    with sandbox() as kubeconfig:
        run(kubeconfig, int((kubeconfig.parent / "daemon.pid").read_text()), size)


if __name__ == "__main__":
    main()

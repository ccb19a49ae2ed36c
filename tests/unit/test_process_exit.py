"""How a tripgenctl process starts and ends, for the fixed cost of small commands: the door
loads only the SDK parts it uses (no dynamic client, kubernetes-validate or jsonschema for a
connection), and `finish` exits without the interpreter's module teardown but with everything
a normal exit does that a user could see: threads finished, atexit handlers run, output
flushed, the exit code kept."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import yaml

KUBECONFIG = {
    "apiVersion": "v1", "kind": "Config", "current-context": "c",
    "clusters": [{"name": "k", "cluster": {"server": "https://127.0.0.1:9"}}],
    "users": [{"name": "u", "user": {"token": "t"}}],
    "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u", "namespace": "ns"}}],
}


def _python(code: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60, **kw)


def test_a_connection_loads_no_dynamic_client_validator_or_jsonschema(tmp_path):
    kc = tmp_path / "kubeconfig"
    kc.write_text(yaml.safe_dump(KUBECONFIG))
    proc = _python(f"""
        import json, sys
        from tripgenctl.kube.client import connect
        kube = connect(kubeconfig={str(kc)!r})
        from kubernetes import client
        print(json.dumps({{"ns": kube.namespace, "api": hasattr(client, "CoreV1Api"),
                           "loaded": sorted(m for m in ("kubernetes.dynamic", "kubernetes_validate", "jsonschema",
                                                        "kubernetes.informer", "kubernetes.leaderelection") if m in sys.modules)}}))
    """)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"ns": "ns", "api": True, "loaded": []}


def test_the_sdk_parts_still_import_on_demand(tmp_path):
    proc = _python("""
        from tripgenctl.kube import client as door  # installs the package without its __init__
        from kubernetes.dynamic import DynamicClient
        from kubernetes import watch, stream
        import kubernetes
        from importlib.metadata import version
        print(DynamicClient.__name__, watch.Watch.__name__, kubernetes.stream is stream, kubernetes.__version__ == version("kubernetes"))
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["DynamicClient", "Watch", "True", "True"]


def test_finish_waits_for_threads_runs_atexit_flushes_and_keeps_the_code(tmp_path):
    marker = tmp_path / "atexit"
    proc = _python(f"""
        import atexit, sys, threading, time
        from concurrent.futures import ThreadPoolExecutor
        from tripgenctl.cli.app import finish
        pool = ThreadPoolExecutor(2)  # idle workers of a pool nobody shut down must not hang the exit
        pool.submit(time.sleep, 0.1)
        threading.Thread(target=lambda: (time.sleep(0.3), print("worker done"))).start()
        atexit.register(lambda: open({str(marker)!r}, "w").write("ran"))
        sys.stdout.write("buffered, no newline")
        finish(3)
    """)
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout == "buffered, no newlineworker done\n" and marker.read_text() == "ran"


def test_finish_of_a_message_is_exit_1_with_the_message():
    proc = _python("""
        from tripgenctl.cli.app import finish
        finish("error: stopped")
    """)
    assert proc.returncode == 1 and proc.stderr == "error: stopped\n"

"""The container filesystem view (kubelet/nsroot.py) on its own, and the argv/env mapping the
kubelet falls back to where no private mount namespace can be had."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tripgen_sandbox.kubelet.view import ContainerView, Mount
from tripgen_sandbox.kubelet.volumes import write_files

sys.path.insert(0, str(Path(__file__).parent))
from test_sandbox_kubelet import NS, Env, pod_spec  # noqa: E402


def run_in_view(view: ContainerView, script: str) -> subprocess.CompletedProcess:
    view.write()
    return subprocess.run(view.run_prefix() + ["sh", "-c", script], capture_output=True, text=True, timeout=30, env={"PATH": os.environ["PATH"]})


def test_volumes_at_mount_paths_read_only_sub_path_and_no_host_state(tmp_path):
    cfg = tmp_path / "cfg"
    write_files(cfg, {"x.txt": b"X\n", "y.txt": b"Y\n"}, 0o644)
    data = tmp_path / "data"
    data.mkdir()
    missing = ["/tgsb-view-test", "/usr/share/tgsb-view-test", "/etc/tgsb-y.txt"]
    assert not any(os.path.lexists(p) for p in missing)
    view = ContainerView(tmp_path / "c", [
        Mount("/tgsb-view-test/config", cfg, True),
        Mount("/usr/share/tgsb-view-test/data", data),
        Mount("/etc/tgsb-y.txt", Path(os.path.realpath(cfg / "y.txt")), True),
    ], workdir="/tgsb-view-test/work")
    out = run_in_view(view, 'pwd; cat /tgsb-view-test/config/x.txt /etc/tgsb-y.txt; echo w > /usr/share/tgsb-view-test/data/f; '
                            'touch /tgsb-view-test/config/z 2>/dev/null || echo ro; ls /usr/share | grep -c .; '
                            f'{sys.executable} -c "import sys; print(sys.prefix)"')
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split()
    assert lines[:5] == ["/tgsb-view-test/work", "X", "Y", "ro", str(len(os.listdir("/usr/share")) + 1)], out.stdout
    assert lines[5] == sys.prefix  # the host's Python and virtualenv are there inside
    assert (data / "f").read_text() == "w\n"  # writes to a volume land in the volume
    assert not any(os.path.lexists(p) for p in missing)  # and nothing new on the host
    assert not os.path.ismount(tmp_path / "c" / "root")


def test_configmap_update_is_seen_through_the_bind_mount(tmp_path):
    """The AtomicWriter layout keeps the mounted directory, so a running container sees updates."""
    cfg = tmp_path / "cfg"
    write_files(cfg, {"x.txt": b"old\n"}, 0o644)
    view = ContainerView(tmp_path / "c", [Mount("/tgsb-view-cfg", cfg, True)])
    view.write()
    proc = subprocess.Popen(view.run_prefix() + ["sh", "-c", "read line; cat /tgsb-view-cfg/x.txt"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 10
    while view.ready_pid() != proc.pid and time.monotonic() < deadline:
        time.sleep(0.02)
    write_files(cfg, {"x.txt": b"new\n"}, 0o644)
    out, _ = proc.communicate("go\n", timeout=10)
    assert out == "new\n"


def test_enter_joins_the_running_view(tmp_path):
    view = ContainerView(tmp_path / "c", [Mount("/tgsb-view-enter", tmp_path)], workdir="/tgsb-view-enter")
    view.write()
    main = subprocess.Popen(view.run_prefix() + ["sh", "-c", "echo private > /tgsb-view-only; exec sleep 30"])
    try:
        deadline = time.monotonic() + 10
        while view.ready_pid() != main.pid and time.monotonic() < deadline:
            time.sleep(0.02)
        out = subprocess.run(view.enter_prefix(main.pid) + ["sh", "-c", "pwd; cat /tgsb-view-only"], capture_output=True, text=True, timeout=10)
        assert out.stdout.split() == ["/tgsb-view-enter", "private"], out.stderr
        assert not os.path.exists("/tgsb-view-only")
    finally:
        main.kill()
        main.wait()


def test_missing_executable_is_reported_like_runc(tmp_path):
    view = ContainerView(tmp_path / "c", [])
    view.write()
    out = subprocess.run(view.run_prefix() + ["no-such-binary-xyz"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 127
    assert 'exec: "no-such-binary-xyz": executable file not found in $PATH' in out.stderr


@pytest.fixture(scope="module")
def fallback_env(tmp_path_factory):
    """A kubelet told that no mount namespace is available: paths are mapped in argv/env."""
    e = Env(tmp_path_factory.mktemp("fallback-state"))
    e.kubelet.mountns = ""
    yield e
    e.close()


def test_fallback_maps_mount_paths_in_argv_and_env(fallback_env):
    e = fallback_env
    e.create("configmaps", {"metadata": {"name": "cfg"}, "data": {"x.txt": "mapped\n"}})
    e.create("pods", pod_spec("fb", [{
        "name": "main", "image": "busybox:1.36", "command": ["sh", "-c", "cat /config/x.txt; cat $CFG/x.txt; echo HOME=$HOME"],
        "env": [{"name": "CFG", "value": "/config"}], "volumeMounts": [{"name": "cfg", "mountPath": "/config"}],
    }], restartPolicy="Never", volumes=[{"name": "cfg", "configMap": {"name": "cfg"}}]))
    pod = e.wait_pod("fb", lambda p: (p.get("status") or {}).get("phase") in ("Succeeded", "Failed"), what="to finish")
    assert pod["status"]["phase"] == "Succeeded"
    logs = e.kubelet.log_file(NS, "fb", "main").read_text()
    assert "F mapped" in logs and logs.count("F mapped") == 2
    assert "HOME=/root" not in logs and "HOME=" in logs  # the pod's own home dir, not the host's
    assert not os.path.exists("/config")

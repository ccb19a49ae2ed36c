"""Process-tree measurement: the kernel's children lists find the same tree as psutil's walk of
all of /proc (which the OOM watchdogs can no longer afford), and a kernel without them still
gets an answer."""

from __future__ import annotations

import subprocess
import time

import psutil
import pytest

from tripgen_sandbox import metrics


def _tree_of_sleepers():
    proc = subprocess.Popen(["bash", "-c", "sleep 30 & (sleep 31 & sleep 32; wait) & wait"])
    deadline = time.monotonic() + 10
    while len(psutil.Process(proc.pid).children(recursive=True)) < 4:
        assert time.monotonic() < deadline, "the tree never formed"
        time.sleep(0.05)
    return proc


def test_descendants_are_the_tree_psutil_walks():
    proc = _tree_of_sleepers()
    try:
        walked = {c.pid for c in psutil.Process(proc.pid).children(recursive=True)}
        assert set(metrics.descendants(proc.pid)) == walked
        assert metrics.tree_memory(proc.pid) > 0 and metrics.tree_cpu_seconds(proc.pid) >= 0
    finally:
        for c in psutil.Process(proc.pid).children(recursive=True):
            c.kill()
        proc.kill()
        proc.wait()


def test_without_children_lists_psutil_walks(monkeypatch):
    proc = _tree_of_sleepers()
    try:
        walked = {c.pid for c in psutil.Process(proc.pid).children(recursive=True)}
        monkeypatch.setattr(metrics, "CHILDREN_LISTS", False)
        monkeypatch.setattr(metrics, "_children", lambda pid: pytest.fail("the children lists were read"))
        assert set(metrics.descendants(proc.pid)) == walked
    finally:
        for c in psutil.Process(proc.pid).children(recursive=True):
            c.kill()
        proc.kill()
        proc.wait()


def test_a_gone_process_has_no_tree():
    proc = subprocess.Popen(["true"])
    proc.wait()
    assert metrics.descendants(proc.pid) == [] and metrics.tree_memory(proc.pid) == 0

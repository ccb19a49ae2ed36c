"""tripgenctl as a user installs it: both wheels built from this checkout, the product wheel
alone installed into a fresh virtualenv outside the checkout, and the runbook driven from a
directory that is not the checkout. Catches package data that only a checkout has, sandbox code
leaking into the product, and a product that needs the sandbox to start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.helpers import OPENAI, SB

ROOT = Path(__file__).resolve().parents[2]
WHEELHOUSE = Path(sys.prefix) / "wheelhouse"  # `make venv` keeps every dependency there as a wheel (Makefile)


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> dict[str, Path]:
    dist = tmp_path_factory.mktemp("dist")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                           "-w", str(dist), str(ROOT), str(ROOT / "sandbox")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    found = {p.name.split("-")[0]: p for p in dist.glob("*.whl")}
    assert set(found) == {"tripgenctl", "tripgen_sandbox"}, found
    return found


@pytest.fixture(scope="module")
def product_venv(wheels, tmp_path_factory) -> Path:
    """A fresh venv holding the product wheel and its dependencies, nothing of the checkout.

    The dependencies come from `make venv`'s wheelhouse (the very wheels the dev venv was installed
    from; no index, no download) when there is one, else from the index as a user's would. The test
    interpreter's pip installs into the new venv (`--python`), which needs no pip of its own, and
    does not byte-compile: the venv compiles what it imports when it first imports it, as any venv
    may. Compiling every module of the Azure SDKs was most of this fixture's minutes."""
    venv = tmp_path_factory.mktemp("venv") / "v"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    source = ["--no-index", "--find-links", str(WHEELHOUSE)] if WHEELHOUSE.is_dir() else []
    proc = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--quiet",
                           "--disable-pip-version-check", "--no-compile", *source, str(wheels["tripgenctl"])],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return venv


def outside_env(**extra: str) -> dict[str, str]:
    """The user's environment minus anything that points back into the checkout."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TRIPGENCTL_", "PYTHON", "VIRTUAL_ENV", "KUBECONFIG"))}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(str(ROOT)))
    env.update(extra)
    return env


def test_product_wheel_holds_manifests_and_sql_and_no_sandbox(wheels):
    names = zipfile.ZipFile(wheels["tripgenctl"]).namelist()
    for manifest in sorted((ROOT / "manifests").rglob("*.yaml")):
        assert f"tripgenctl/_data/manifests/{manifest.relative_to(ROOT / 'manifests').as_posix()}" in names
    for sql in sorted((ROOT / "sql").glob("*.sql")):
        assert f"tripgenctl/_data/sql/{sql.name}" in names
    assert not [n for n in names if "sandbox" in n.lower() or n.startswith(("tests/", "bench/"))]
    sandbox_names = zipfile.ZipFile(wheels["tripgen_sandbox"]).namelist()
    assert any(n.startswith("tripgen_sandbox/apiserver/") for n in sandbox_names)
    assert not [n for n in sandbox_names if n.startswith("tripgenctl/")]
    entry_points = next(n for n in sandbox_names if n.endswith("entry_points.txt"))
    assert "[tripgenctl.commands]" in zipfile.ZipFile(wheels["tripgen_sandbox"]).read(entry_points).decode()


def test_installed_product_runs_the_runbook_from_another_directory(product_venv, sandbox, namespace, tmp_path):
    exe = str(product_venv / "bin" / "tripgenctl")
    env = outside_env(KUBECONFIG=str(sandbox.kubeconfig), OPENAI_API_KEY=OPENAI, SERVICEBUS_CONNECTION_STRING=SB)

    def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run([exe, *args, "-n", namespace], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    where = subprocess.run([str(product_venv / "bin" / "python"), "-c", "import tripgenctl, tripgenctl.packaged as p; "
                            "print(tripgenctl.__file__); print(p.manifests_dir()); print(p.sql_dir())"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert where.returncode == 0, where.stderr
    for line in where.stdout.split():
        assert line.startswith(str(product_venv)), where.stdout  # nothing read from the checkout

    version = subprocess.run([exe, "--version"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and version.stdout.strip().startswith("tripgenctl 0."), version.stdout
    missing = subprocess.run([exe, "sandbox", "start"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2, missing
    assert len(missing.stderr.strip().splitlines()) == 1 and "pip install" in missing.stderr, missing.stderr

    assert run("secrets", "init").returncode == 0
    dry = run("deploy", "--dry-run", "-o", "json")
    assert dry.returncode == 0, dry.stderr
    planned = {o["object"] for o in json.loads(dry.stdout)["objects"]}
    assert {"statefulset/postgresql", "statefulset/redis", "deployment/user-service", "deployment/trip-service",
            "deployment/ai-service", "deployment/location-service"} <= planned

    deployed = run("deploy", timeout=400)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    loaded = run("data", "init", timeout=400)
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    validated = run("data", "validate")
    assert validated.returncode == 0, validated.stdout + validated.stderr
    down = run("down", "--yes")
    assert down.returncode == 0, down.stdout + down.stderr
    up = run("up", "--yes", timeout=400)
    assert up.returncode == 0, up.stdout + up.stderr

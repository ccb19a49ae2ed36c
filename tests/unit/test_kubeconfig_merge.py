"""`KUBECONFIG=a:b` merged as kubectl merges it: per name the first file wins for clusters, users
and contexts; current-context comes from the first file that sets it; relative paths are
relative to the file that holds them. Checked against the stock kubectl binary (its `config view`
needs no cluster) and through the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from silent_server import SilentServer, kubeconfig_for
from typer.testing import CliRunner

KUBECTL = next((str(p) for p in (Path("/usr/lib/google-cloud-sdk/bin/kubectl.1.29"), Path("/usr/bin/kubectl")) if p.exists()), "kubectl")


def write(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data))
    return path


def kubectl_view(kubeconfig: str, context: str | None = None) -> dict:
    args = [KUBECTL, "config", "view", "--merge", "--minify", "--raw", "-o", "json"]
    if context:
        args += ["--context", context]
    proc = subprocess.run(args, capture_output=True, text=True, env=dict(os.environ, KUBECONFIG=kubeconfig), timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture
def two_files(tmp_path):
    a = kubeconfig_for("https://127.0.0.1:1111", "alpha", "ns-a", token="token-a")
    a["clusters"].append({"name": "shared", "cluster": {"server": "https://127.0.0.1:3333", "insecure-skip-tls-verify": True}})
    b = kubeconfig_for("https://127.0.0.1:2222", "beta", "ns-b", token="token-b")
    b["clusters"].append({"name": "shared", "cluster": {"server": "https://127.0.0.1:4444", "insecure-skip-tls-verify": True}})
    b["contexts"].append({"name": "via-shared", "context": {"cluster": "shared", "user": "beta"}})
    b["users"][0]["name"] = "beta"
    return write(tmp_path / "a" / "config", a), write(tmp_path / "b" / "config", b)


def test_two_valid_files_work_and_agree_with_kubectl(two_files):
    from tripgenctl.kube.client import connect

    a, b = two_files
    value = f"{a}{os.pathsep}{b}"
    for context in (None, "alpha", "beta", "via-shared"):
        kube = connect(kubeconfig=value, context=context, namespace=None, request_timeout=5)
        view = kubectl_view(value, context)
        assert kube.context_name == view["current-context"]
        assert kube.server == view["clusters"][0]["cluster"]["server"]
        assert kube.namespace == (view["contexts"][0]["context"].get("namespace") or "tripgen-dev")
    assert connect(kubeconfig=value, request_timeout=5).context_name == "alpha"  # the first file's current-context
    assert connect(kubeconfig=f"{b}{os.pathsep}{a}", request_timeout=5).context_name == "beta"
    # "shared" is in both files: the first file's entry wins
    assert connect(kubeconfig=value, context="via-shared", request_timeout=5).server == "https://127.0.0.1:3333"
    assert connect(kubeconfig=f"{b}{os.pathsep}{a}", context="via-shared", request_timeout=5).server == "https://127.0.0.1:4444"


def test_current_context_from_the_first_file_that_sets_it_and_missing_files_skipped(two_files, tmp_path):
    from tripgenctl.kube.client import connect

    a, b = two_files
    bare = yaml.safe_load(a.read_text())
    del bare["current-context"]
    first = write(tmp_path / "bare" / "config", bare)
    value = os.pathsep.join([str(tmp_path / "missing"), str(first), str(b)])
    assert connect(kubeconfig=value, request_timeout=5).context_name == kubectl_view(value)["current-context"] == "beta"


def test_relative_paths_are_relative_to_their_own_file(tmp_path, two_files):
    from tripgenctl.kube.client import connect

    a, b = two_files
    ca = tmp_path / "b" / "certs" / "ca.crt"
    ca.parent.mkdir(parents=True)
    cert = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(tmp_path / "k"), "-subj", "/CN=t",
                           "-days", "1", "-out", str(ca)], capture_output=True)
    assert cert.returncode == 0, cert.stderr
    data = yaml.safe_load(b.read_text())
    data["clusters"][0]["cluster"] = {"server": "https://127.0.0.1:2222", "certificate-authority": "certs/ca.crt"}
    write(b, data)
    cwd = os.getcwd()
    os.chdir(tmp_path)  # neither file's directory
    try:
        kube = connect(kubeconfig=f"{a}{os.pathsep}{b}", context="beta", request_timeout=5)
    finally:
        os.chdir(cwd)
    assert Path(kube.api_client.configuration.ssl_ca_cert).read_bytes() == ca.read_bytes()


def test_the_cli_with_two_files_talks_to_the_first_files_server(tmp_path, monkeypatch):
    from tripgenctl.cli.app import app

    (tmp_path / "c.toml").write_text("request_timeout = 1\n")
    monkeypatch.setenv("TRIPGENCTL_CONFIG", str(tmp_path / "c.toml"))
    with SilentServer(tmp_path) as server:
        other = write(tmp_path / "other", kubeconfig_for("https://127.0.0.1:9", "other"))
        monkeypatch.setenv("KUBECONFIG", f"{server.kubeconfig}{os.pathsep}{other}")
        r = CliRunner().invoke(app, ["status"], catch_exceptions=False)
        assert r.exit_code == 2 and "bad kubeconfig" not in r.stderr and server.url in r.stderr, r.output
        assert server.accepted == 1
        r = CliRunner().invoke(app, ["status", "--context", "other"], catch_exceptions=False)
        assert r.exit_code == 2 and "https://127.0.0.1:9" in r.stderr and "bad kubeconfig" not in r.stderr, r.output


def test_merged_errors_are_one_line(tmp_path, two_files):
    from tripgenctl.errors import UsageError
    from tripgenctl.kube.client import connect

    a, b = two_files
    broken = tmp_path / "broken"
    broken.write_text("clusters: [oops\n")
    with pytest.raises(UsageError) as err:
        connect(kubeconfig=f"{a}{os.pathsep}{broken}")
    assert str(broken) in err.value.message and "\n" not in err.value.message
    with pytest.raises(UsageError) as err:
        connect(kubeconfig=f"{a}{os.pathsep}{b}", context="nope")
    assert 'context "nope" not found' in err.value.message

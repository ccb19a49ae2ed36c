"""Input checked before any call (issue 17, item 6): names, durations, -o values and file paths
are refused with one `error:` line and exit 2, and the cluster is not contacted at all (the
kubeconfig points at a listener that counts connections)."""

from __future__ import annotations

import json

import pytest
import yaml
from silent_server import SilentServer
from typer.testing import CliRunner

from tripgenctl.cli.app import app


@pytest.fixture
def server(tmp_path, monkeypatch):
    config = tmp_path / "tripgenctl.toml"
    config.write_text("request_timeout = 1\n")
    monkeypatch.setenv("TRIPGENCTL_CONFIG", str(config))
    with SilentServer(tmp_path) as s:
        monkeypatch.setenv("KUBECONFIG", str(s.kubeconfig))
        yield s


def invoke(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def refused(result, *words: str) -> str:
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert "Traceback" not in result.output and "unexpected" not in result.output
    return lines[0]


@pytest.mark.parametrize("name", ["nothere/../tripgen-dev", "a/../b", "Tripgen-Dev", "-dev", "dev-", "a_b", "a.b", "a" * 64, "dev?watch=1", ""])
def test_namespace_must_be_a_dns_label(server, name):
    for args in (["-n", name, "status"], ["status", f"--namespace={name}"], ["down", "--yes", "-n", name]):
        refused(invoke(*args), "namespace", "not a valid name")
    assert server.accepted == 0


def test_namespace_from_the_config_is_checked_too(server, tmp_path, monkeypatch):
    config = tmp_path / "ns.toml"
    config.write_text('namespace = "x/../kube-system"\n')
    monkeypatch.setenv("TRIPGENCTL_CONFIG", str(config))
    refused(invoke("status"), "namespace", "not a valid name")
    assert server.accepted == 0


def test_a_valid_namespace_reaches_the_server(server):
    r = invoke("-n", "tripgen-dev-2", "status")
    assert r.exit_code == 2 and "did not answer" in r.stderr and server.accepted == 1, r.output


@pytest.mark.parametrize("value", ["99999999h", "99999999999999999999999h", "87600h", "31d", "721h", "0h", "0m", "3x", "h", "1h 30m", "-1h"])
def test_wake_for_is_bounded_and_overflow_safe(server, value):
    refused(invoke("wake", "--for", value), "--for")
    assert server.accepted == 0


def test_wake_for_within_thirty_days_goes_ahead(server):
    for value in ("720h", "30d", "1h30m"):
        r = invoke("wake", "--for", value)
        assert r.exit_code == 2 and "did not answer" in r.stderr, (value, r.output)  # it got as far as the cluster
    assert server.accepted == 3


def test_wake_timeout_must_be_finite(server):
    for value in ("inf", "nan", "-5", "1e12"):
        refused(invoke("wake", "--for", "1h", "--timeout", value), "--timeout")
    assert server.accepted == 0


@pytest.mark.parametrize("args", [["status"], ["db", "list"], ["down", "--yes"], ["schedule", "show", "--offline"], ["cluster", "status"]])
def test_junit_is_only_for_doctor(server, args):
    refused(invoke(*args, "-o", "junit"), "-o 'junit'", "table, json or yaml")
    refused(invoke(*args, "-o", "xml"), "-o 'xml'")
    assert server.accepted == 0


def test_doctor_takes_junit_and_yaml(server):
    for output in ("junit", "yaml"):
        r = invoke("doctor", "-o", output)
        assert "is not an output" not in r.output, r.output
    refused(invoke("doctor", "-o", "xml"), "table, json, yaml or junit")


def test_yaml_beside_json_carries_the_same_facts(tmp_path, monkeypatch):
    config = tmp_path / "c.toml"
    config.write_text('[schedule]\ntimezone = "Asia/Seoul"\nholidays = ["2026-12-25"]\n')
    monkeypatch.setenv("TRIPGENCTL_CONFIG", str(config))
    as_json = invoke("schedule", "show", "--offline", "-o", "json")
    as_yaml = invoke("schedule", "show", "--offline", "-o", "yaml")
    assert as_json.exit_code == 0 and as_yaml.exit_code == 0, as_yaml.output
    assert yaml.safe_load(as_yaml.stdout) == json.loads(as_json.stdout)
    assert not as_yaml.stdout.lstrip().startswith("{")


def test_yaml_output_quotes_strings_that_go_would_read_as_other_types():
    import io
    from dataclasses import dataclass

    from tripgenctl.presentation.render import render

    @dataclass
    class Row:
        user: str
        flag: str
        octal: str
        number: str
        count: int
        ok: bool

    out = io.StringIO()
    render(Row("y", "on", "0o17", "1e3", 3, True), "yaml", file=out)
    text = out.getvalue()
    for line in ("user: 'y'", "flag: 'on'", "octal: '0o17'", "number: '1e3'", "count: 3", "ok: true"):
        assert line in text.splitlines(), text


@pytest.mark.parametrize("args, what", [
    (["db", "restore", "{dir}", "--yes"], "backup file"),
    (["db", "verify", "{dir}"], "backup file"),
    (["secrets", "init", "--env-file", "{dir}"], "--env-file"),
    (["--config", "{dir}", "status"], "--config"),
    (["--kubeconfig", "{dir}", "status"], "kubeconfig"),
])
def test_a_directory_where_a_file_is_expected(server, tmp_path, args, what):
    line = refused(invoke(*(a.format(dir=tmp_path) for a in args)), what, "is a directory")
    assert str(tmp_path) in line
    assert server.accepted == 0


def test_exclude_names_are_checked(server):
    refused(invoke("down", "--yes", "--exclude", "user-service/../x"), "--exclude")
    refused(invoke("up", "--yes", "--exclude", "User_Service"), "--exclude")
    assert server.accepted == 0
    r = invoke("down", "--yes", "--exclude", "deployment/user-service", "--exclude", "redis")
    assert "--exclude" not in r.stderr and server.accepted >= 1, r.output


def test_up_down_timeouts_and_prune_days_are_bounded(server, tmp_path):
    for verb in ("up", "down"):
        for value in ("inf", "nan", "1e12"):
            refused(invoke(verb, "--yes", "--timeout", value), "--timeout")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x.dump").write_bytes(b"PGDMPxxxx")
    refused(invoke("db", "prune", "--backup-dir", str(tmp_path / "b"), "--keep-days", "99999999999", "--dry-run"), "keep days", "36500")
    assert invoke("db", "prune", "--backup-dir", str(tmp_path / "b"), "--keep-days", "36500", "--dry-run").exit_code == 0
    assert server.accepted == 0

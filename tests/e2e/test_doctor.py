"""`tripgenctl doctor` against the sandbox: every row of the SPEC's troubleshooting table and every
alert threshold is created for real (a pod spec or a sandbox fault) and the finding, its evidence
and its fix text are asserted; then the deployed environment (healthy, PostgreSQL scaled to 0,
Service Bus key missing), the output formats (JSON Schema, JUnit XML) and the exit codes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone
from xml.etree import ElementTree as ET

import jsonschema
import pytest

from tripgenctl.config import ToolConfig
from tripgenctl.ops import waiting
from tripgenctl.ops.doctor import run_doctor
from tripgenctl.ops.doctor.knowledge import TABLE
from tests.helpers import run_tool, wait_node_ready

SB = "Endpoint=sb://sb-tripgen-dev.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=c2FuZGJveC10ZXN0LWtleQ=="
OPENAI = "sk-test-openai-key-never-printed-0123"
NODE = "sandbox-node-2"


# ---- helpers -----------------------------------------------------------------------------------

def cli(sandbox, namespace: str, *args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return run_tool(*args, namespace=namespace, env=sandbox.env(**(env or {})), timeout=timeout)


def doctor(sandbox, namespace: str, *only: str):
    return run_doctor(sandbox.kube(namespace), ToolConfig(), only=list(only) or None)


def problems(report, check: str) -> list:
    return [f for f in report.findings if f.check == check and f.severity != "ok"]


def fix_of(problem: str) -> str:
    return TABLE[problem][1]


def pod(name: str, containers: list[dict], restart: str = "Always", volumes: list[dict] | None = None) -> dict:
    spec = {"containers": containers, "restartPolicy": restart, "terminationGracePeriodSeconds": 1}
    if volumes:
        spec["volumes"] = volumes
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"test": "doctor"}}, "spec": spec}


def container(name: str, image: str, command: list[str] | None = None, requests: dict | None = None, limits: dict | None = None, **extra) -> dict:
    c = {"name": name, "image": image, **extra}
    if command:
        c["command"] = command
    res = {}
    if requests:
        res["requests"] = requests
    if limits:
        res["limits"] = limits
    if res:
        c["resources"] = res
    return c


def create(sandbox, namespace: str, obj: dict) -> None:
    kind = obj["kind"]
    plural = {"Pod": "pods", "PersistentVolumeClaim": "persistentvolumeclaims"}[kind]
    status, body = sandbox.kube(namespace).request_json("POST", f"/api/v1/namespaces/{namespace}/{plural}", obj)
    assert status == 201, body


def wait_pod(sandbox, namespace: str, name: str, check, timeout: float = 60) -> dict:
    """Watch the namespace's pods until check(pod) holds; returns that pod."""
    seen: dict = {}

    def ok(items):
        p = items.get(name)
        if p is not None and check(p):
            seen["pod"] = p
            return True
        return False

    assert waiting.watch_list(sandbox.kube(namespace), f"/api/v1/namespaces/{namespace}/pods", ok, timeout), f"pod {name} never reached the state"
    return seen["pod"]


def status0(p: dict) -> dict:
    return ((p.get("status") or {}).get("containerStatuses") or [{}])[0]


# ---- pod-level rows ----------------------------------------------------------------------------

def test_pending_oversized_requests_gives_the_numbers(sandbox, namespace):
    create(sandbox, namespace, pod("huge", [container("c", "busybox", ["sleep", "3600"], requests={"cpu": "16", "memory": "64Gi"})]))
    wait_pod(sandbox, namespace, "huge", lambda p: any(c.get("type") == "PodScheduled" and c.get("status") == "False" for c in p["status"].get("conditions") or []))
    report = doctor(sandbox, namespace, "pending")
    [f] = problems(report, "pending")
    assert f.severity == "critical" and f.object == "pod/huge"
    assert "Insufficient cpu" in f.evidence and "Insufficient memory" in f.evidence
    assert "pod requests 16 CPU / 64Gi" in f.evidence, f.evidence
    for node in ("sandbox-node-1", "sandbox-node-2"):
        assert re.search(rf"{node} allocatable \d+m CPU / [\d.]+[GM]i, requested \d+m / ", f.evidence), f.evidence
    assert f.fix == fix_of("pending") and "Add a node" in f.fix and "kubectl describe pod huge" in f.command


def test_unknown_image_is_image_pull_back_off(sandbox, namespace):
    image = "tripgendev.azurecr.io/user-service:no-such-tag"
    create(sandbox, namespace, pod("badimage", [container("c", image)]))
    wait_pod(sandbox, namespace, "badimage", lambda p: ((status0(p).get("state") or {}).get("waiting") or {}).get("reason") in ("ErrImagePull", "ImagePullBackOff"))
    report = doctor(sandbox, namespace, "image")
    [f] = problems(report, "image")
    assert f.severity == "critical" and f.object == "pod/badimage" and image in f.title
    assert re.search(r"ErrImagePull|ImagePullBackOff", f.title)
    assert "not found" in f.evidence or "manifest unknown" in f.evidence, f.evidence
    assert "likely cause: the image tag does not exist" in f.evidence
    assert f.fix == fix_of("image") and "ACR authentication" in f.fix


def test_crash_loop_is_critical_only_from_the_fifth_restart(sandbox, namespace):
    create(sandbox, namespace, pod("crasher", [container("c", "busybox", ["sh", "-c", "echo boom-marker-$RANDOM; exit 3"])]))
    seen: dict[int, str] = {}
    # one doctor run per restart count until the threshold is passed (fast back-offs in the test sandbox)
    for wanted in range(1, 6):
        wait_pod(sandbox, namespace, "crasher", lambda p: status0(p).get("restartCount", 0) >= wanted, timeout=60)
        report = doctor(sandbox, namespace, "crashloop")
        found = problems(report, "crashloop")
        if not found:
            continue  # between a restart and the CrashLoopBackOff below the threshold: nothing to say yet
        [f] = found
        restarts = int(re.search(r"restarted (\d+) times", f.title).group(1))
        seen[restarts] = f.severity
        assert f.severity == ("critical" if restarts >= 5 else "warning"), (restarts, f)
        assert "last exit: Error (exit code 3)" in f.evidence and "threshold 5" in f.evidence, f.evidence
        assert "boom-marker" in f.evidence, f.evidence  # the previous container's log tail
        assert f.fix == fix_of("crashloop") and "--previous" in f.command
    assert any(r < 5 for r in seen) and any(r >= 5 for r in seen), seen


def test_low_memory_limit_is_oom_killed(sandbox, namespace):
    hog = "import time; b = b'x' * (200 * 1024 * 1024); time.sleep(3600)"
    create(sandbox, namespace, pod("hog", [container("c", "python:3.12-slim", ["python", "-c", hog], limits={"memory": "64Mi"})]))
    wait_pod(sandbox, namespace, "hog", lambda p: ((status0(p).get("lastState") or {}).get("terminated") or {}).get("reason") == "OOMKilled"
             or ((status0(p).get("state") or {}).get("terminated") or {}).get("reason") == "OOMKilled")
    report = doctor(sandbox, namespace, "oom", "crashloop")
    [f] = problems(report, "oom")
    assert f.severity == "critical" and f.object == "pod/hog" and "OOMKilled" in f.title
    assert "memory limit 64Mi" in f.evidence and "exit code 137" in f.evidence, f.evidence
    assert f.fix == fix_of("oom") and "Raise the memory limit" in f.fix
    assert not problems(report, "crashloop"), "an OOM loop is reported once, by the oom check"


# ---- node and disk alerts (sandbox faults) -------------------------------------------------------

def _iso(minutes_ago: float) -> str:
    return (datetime.now(timezone.utc) - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _wait_node(sandbox, since: str | None) -> None:
    wait_node_ready(sandbox.kube(), NODE, since)


def test_node_not_ready_six_minutes_is_critical_one_minute_a_warning(sandbox, namespace):
    try:
        for minutes, severity, code, fail_on_warning in ((6, "critical", 1, 1), (1, "warning", 0, 1)):
            since = _iso(minutes)
            sandbox.fault("node-notready", {NODE: since})
            _wait_node(sandbox, since)
            report = doctor(sandbox, namespace, "node")
            [f] = problems(report, "node")
            assert f.severity == severity and f.object == f"node/{NODE}", f
            assert re.search(rf"NotReady for {minutes}\.\d min", f.title), f.title
            assert f"since {since}" in f.evidence and "NodeStatusUnknown" in f.evidence, f.evidence
            assert f.fix == fix_of("node") and f"kubectl describe node {NODE}" == f.command
            # exit codes through the CLI: critical -> 1; a warning only -> 0, or 1 with --fail-on warning
            assert cli(sandbox, namespace, "doctor", "--only", "node").returncode == code
            assert cli(sandbox, namespace, "doctor", "--only", "node", "--fail-on", "warning").returncode == fail_on_warning
    finally:
        sandbox.fault("node-notready", None)
    _wait_node(sandbox, None)
    assert not problems(doctor(sandbox, namespace, "node"), "node")


def test_pvc_at_90_percent_is_a_disk_alert(sandbox, namespace):
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
             "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "2Gi"}}}}
    create(sandbox, namespace, claim)
    create(sandbox, namespace, pod("holder", [container("c", "busybox", ["sleep", "3600"], volumeMounts=[{"name": "d", "mountPath": "/data"}])],
                                   volumes=[{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]))
    wait_pod(sandbox, namespace, "holder", lambda p: p["status"].get("phase") == "Running")
    try:
        sandbox.fault("disk", {f"{namespace}/data": 80})
        assert not problems(doctor(sandbox, namespace, "disk"), "disk"), "80 % is below the 85 % alert"
        sandbox.fault("disk", {f"{namespace}/data": 90})
        [f] = problems(doctor(sandbox, namespace, "disk"), "disk")
    finally:
        sandbox.fault("disk", None)
    assert f.severity == "critical" and f.object == "pvc/data"
    assert "volume 90% used (alert at 85%)" == f.title, f.title
    assert "1.8Gi of 2Gi" in f.evidence and "pod holder" in f.evidence, f.evidence
    assert f.fix == fix_of("disk")


def test_metrics_unavailable_is_one_finding_and_the_rest_runs(sandbox, namespace):
    try:
        sandbox.fault("metrics-unavailable", True)
        report = doctor(sandbox, namespace, "memory", "oom", "disk")
    finally:
        sandbox.fault("metrics-unavailable", None)
    [f] = problems(report, "memory")
    assert f.severity == "warning" and "metrics unavailable" in f.title and "503" in f.evidence, f
    assert {x.check for x in report.findings} == {"memory", "oom", "disk"}


# ---- the deployed environment ------------------------------------------------------------------

CHECK_NAMES = ["pending", "image", "crashloop", "oom", "node", "memory", "disk", "database", "apps", "secrets", "servicebus", "netpol", "copies", "backup", "events"]
TEXT = {"type": "string"}
REPORT_SCHEMA = {  # docs/doctor.md, "-o json schema"
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["context", "namespace", "healthy", "critical", "warnings", "checks_run", "findings", "api_calls", "could_not_run"],
    "properties": {
        "context": TEXT, "namespace": TEXT, "healthy": {"type": "boolean"},
        "critical": {"type": "integer", "minimum": 0}, "warnings": {"type": "integer", "minimum": 0},
        "checks_run": {"type": "array", "items": {"enum": CHECK_NAMES}, "uniqueItems": True},
        "findings": {"type": "array", "items": {
            "type": "object", "additionalProperties": False,
            "required": ["check", "severity", "object", "title", "evidence", "cause", "fix", "prevention", "command"],
            "properties": {"check": {"enum": CHECK_NAMES}, "severity": {"enum": ["ok", "warning", "critical"]},
                           "object": TEXT, "title": {"type": "string", "minLength": 1}, "evidence": TEXT,
                           "cause": TEXT, "fix": TEXT, "prevention": TEXT, "command": TEXT}}},
        "api_calls": {"type": "integer", "minimum": 1},
        "could_not_run": {"type": "array", "items": {"enum": CHECK_NAMES}, "uniqueItems": True},
    },
}


def validate_json(text: str) -> dict:
    data = json.loads(text)
    jsonschema.validate(data, REPORT_SCHEMA)
    assert data["critical"] == sum(f["severity"] == "critical" for f in data["findings"])
    assert data["warnings"] == sum(f["severity"] == "warning" for f in data["findings"])
    assert data["healthy"] == (data["critical"] == 0 and not data["could_not_run"])
    return data


def validate_junit(text: str, checks: list[str], expect_errors: int = 0) -> ET.Element:
    """JUnit XML as CI servers read it: <testsuite> with tests/failures/errors counts, one
    <testcase classname name> per check, <failure message type> and <system-out> children."""
    suite = ET.fromstring(text.split("?>", 1)[1] if text.startswith("<?xml") else text)
    assert suite.tag == "testsuite" and suite.get("name")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == checks and int(suite.get("tests")) == len(cases)
    failures = [c for c in cases if c.find("failure") is not None]
    errors = [c for c in cases if c.find("error") is not None]
    assert int(suite.get("failures")) == len(failures) and int(suite.get("errors")) == len(errors) == expect_errors
    for c in cases:
        assert c.get("classname") and {ch.tag for ch in c} <= {"failure", "system-out", "error", "skipped"}
        for fail in c.findall("failure"):
            assert fail.get("message") and fail.get("type") in ("critical", "warning") and fail.text
    return suite


@pytest.fixture(scope="module")
def env(sandbox):
    """The whole environment (secrets init + deploy) in one namespace, shared by the tests below;
    each one breaks something and puts it back (PostgreSQL scaled to 0 comes last)."""
    name = f"doctor-env-{uuid.uuid4().hex[:5]}"
    core = sandbox.kube().core
    core.create_namespace({"metadata": {"name": name}})
    r = cli(sandbox, name, "secrets", "init", env={"OPENAI_API_KEY": OPENAI, "SERVICEBUS_CONNECTION_STRING": SB})
    assert r.returncode == 0, r.stderr
    r = cli(sandbox, name, "deploy", "--timeout", "180")
    assert r.returncode == 0, r.stdout + r.stderr
    yield name
    try:
        core.delete_namespace(name)
    except Exception:  # noqa: BLE001 - best effort cleanup
        pass


def test_healthy_environment_exit_0_json_schema_and_junit(sandbox, env, tmp_path):
    # a healthy environment has a recent verified backup (the `backup` check)
    r = cli(sandbox, env, "db", "backup", "--backup-dir", str(tmp_path / "backups"))
    assert r.returncode == 0, r.stdout + r.stderr
    (tmp_path / "c.toml").write_text(f'[backup]\ndir = "{tmp_path / "backups"}"\n')
    with_backup = {"TRIPGENCTL_CONFIG": str(tmp_path / "c.toml")}
    r = cli(sandbox, env, "doctor", "-o", "json", env=with_backup)
    assert r.returncode == 0, r.stdout + r.stderr
    data = validate_json(r.stdout)
    assert data["healthy"] and data["namespace"] == env and data["checks_run"] == CHECK_NAMES
    assert not [f for f in data["findings"] if f["severity"] == "critical"], data["findings"]
    ok = {f["check"] for f in data["findings"] if f["severity"] == "ok"}
    assert {"database", "apps", "secrets", "netpol", "node", "disk"} <= ok, data["findings"]
    # the Secret is well-formed; Azure itself is out of this machine's reach: one warning at most
    bus = [f for f in data["findings"] if f["check"] == "servicebus"]
    assert bus[0]["severity"] == "ok" or (len(bus) == 1 and "Service Bus not checked" in bus[0]["title"]), bus

    r = cli(sandbox, env, "doctor", "-o", "junit", env=with_backup)
    assert r.returncode == 0, r.stderr
    suite = validate_junit(r.stdout, CHECK_NAMES)
    assert suite.get("failures") == "0"

    table = cli(sandbox, env, "doctor", env=with_backup)
    assert table.returncode == 0 and "healthy" in table.stdout, table.stdout


def test_servicebus_secret_missing_its_key(sandbox, env):
    kube = sandbox.kube(env)
    path = f"/api/v1/namespaces/{env}/secrets/servicebus-connection"
    status, _ = kube.request_json("PATCH", path, [{"op": "remove", "path": "/data/connection-string"}], content_type="application/json-patch+json")
    assert status == 200
    try:
        r = cli(sandbox, env, "doctor", "--only", "servicebus", "--only", "secrets", "-o", "json")
        assert r.returncode == 1, r.stdout + r.stderr
        data = validate_json(r.stdout)
        [f] = [f for f in data["findings"] if f["severity"] != "ok"]
        assert f["check"] == "servicebus" and f["severity"] == "critical" and f["object"] == "secret/servicebus-connection"
        assert "connection-string" in f["title"] and "expected keys: connection-string" in f["evidence"], f
        assert f["cause"] == TABLE["servicebus"][0] and f["fix"] == fix_of("servicebus") == "Check and update the Secret's value."
        junit = validate_junit(cli(sandbox, env, "doctor", "--only", "servicebus", "-o", "junit").stdout, ["servicebus"])
        assert junit.get("failures") == "1" and "servicebus-connection" in junit.find("testcase/failure").get("message")

        # a value without its key part is the same row, naming what is missing, never the value
        bad = base64_text("Endpoint=sb://sb-tripgen-dev.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKye=leaky-secret-0042")
        status, _ = kube.request_json("PATCH", path, {"data": {"connection-string": bad}}, content_type="application/merge-patch+json")
        assert status == 200
        r = cli(sandbox, env, "doctor", "--only", "servicebus", "-o", "json")
        assert r.returncode == 1 and "leaky-secret-0042" not in r.stdout + r.stderr
        [f] = [f for f in validate_json(r.stdout)["findings"] if f["severity"] != "ok"]
        assert f["title"] == "the Service Bus connection string is malformed: missing SharedAccessKey", f
    finally:
        kube.request_json("PATCH", path, {"data": {"connection-string": base64_text(SB)}}, content_type="application/merge-patch+json")
    assert cli(sandbox, env, "doctor", "--only", "servicebus").returncode == 0


def base64_text(value: str) -> str:
    import base64

    return base64.b64encode(value.encode()).decode()


def test_netpol_missing_and_short_jwt_key(sandbox, env):
    kube = sandbox.kube(env)
    policy_path = f"/apis/networking.k8s.io/v1/namespaces/{env}/networkpolicies"
    status, policy = kube.request_json("GET", f"{policy_path}/allow-apps-to-cache")
    assert status == 200
    jwt_path = f"/api/v1/namespaces/{env}/secrets/jwt-secret"
    status, jwt = kube.request_json("GET", jwt_path)
    assert status == 200
    kube.request_json("DELETE", f"{policy_path}/allow-apps-to-cache")
    kube.request_json("PATCH", jwt_path, {"data": {"secret": base64_text("too-short-jwt-key")}}, content_type="application/merge-patch+json")
    try:
        report = doctor(sandbox, env, "netpol", "secrets")
    finally:
        kube.request_json("PATCH", jwt_path, {"data": {"secret": jwt["data"]["secret"]}}, content_type="application/merge-patch+json")
        policy["metadata"] = {k: v for k, v in policy["metadata"].items() if k in ("name", "labels", "annotations")}
        assert kube.request_json("POST", policy_path, policy)[0] == 201
    [net] = problems(report, "netpol")
    assert net.object == "networkpolicy/allow-apps-to-cache" and "missing" in net.title and net.fix == fix_of("netpol")
    [sec] = problems(report, "secrets")
    assert sec.severity == "warning" and sec.object == "secret/jwt-secret" and "key 'secret' is 17 bytes" == sec.evidence
    assert "too-short-jwt-key" not in repr(report)
    assert not problems(doctor(sandbox, env, "netpol", "secrets"), "netpol")


def test_postgresql_scaled_to_zero_database_finding_and_apps_down(sandbox, env):
    sandbox.kubectl("scale", "statefulset/postgresql", "--replicas=0", "-n", env, check=True)
    kube = sandbox.kube(env)
    assert waiting.watch_list(kube, f"/api/v1/namespaces/{env}/pods", lambda items: "postgresql-0" not in items, 60)
    r = cli(sandbox, env, "doctor", "--only", "database", "--only", "apps", "-o", "json")
    assert r.returncode == 1, r.stdout + r.stderr
    data = validate_json(r.stdout)
    db = [f for f in data["findings"] if f["check"] == "database" and f["severity"] != "ok"]
    assert [f["object"] for f in db] == ["statefulset/postgresql"] and db[0]["severity"] == "critical", db
    assert "scaled to 0" in db[0]["title"] and db[0]["evidence"] == "spec.replicas=0"
    assert db[0]["cause"] == TABLE["database"][0] and db[0]["fix"] == fix_of("database") and "tripgenctl up" in db[0]["command"]
    apps = {f["object"]: f for f in data["findings"] if f["check"] == "apps" and f["severity"] != "ok"}
    assert set(apps) == {f"deployment/{a}" for a in ToolConfig().workloads.apps}, apps
    for f in apps.values():
        assert f["severity"] == "critical" and f["title"].startswith("health reports DOWN: db DOWN"), f
        assert "redis" not in f["title"] and "CannotGetJdbcConnectionException" in f["evidence"], f
        assert f["fix"] == fix_of("apps")


def test_memory_at_90_percent_of_the_limit_is_an_alert(sandbox, namespace):
    # the container fills itself to ~93 % of its limit, measuring its own resident set
    fill = ("import time\nlimit = 128 * 2**20\nkeep = []\n"
            "rss = lambda: int(open('/proc/self/statm').read().split()[1]) * 4096\n"
            "while rss() < 0.93 * limit: keep.append(b'x' * (1 << 20))\n"
            "print('filled', rss(), flush=True)\ntime.sleep(3600)\n")
    create(sandbox, namespace, pod("filler", [container("c", "python:3.12-slim", ["python", "-c", fill], limits={"memory": "128Mi"})]))
    wait_pod(sandbox, namespace, "filler", lambda p: (status0(p).get("state") or {}).get("running") is not None)
    kube = sandbox.kube(namespace)
    found = []
    for _ in range(50):  # metrics are sampled live: until the fill is done (a few tenths of a second)
        found = problems(run_doctor(kube, ToolConfig(), only=["memory"]), "memory")
        if found:
            break
        waiting.watch_list(kube, f"/api/v1/namespaces/{namespace}/pods", lambda items: False, 0.2)
    [f] = found
    assert f.severity == "critical" and f.object == "pod/filler", f
    share = int(re.search(r"container c uses (\d+)% of its memory limit \(alert at 90%\)", f.title).group(1))
    assert 90 <= share < 100 and f.evidence.endswith("of 128Mi"), f
    assert f.fix == fix_of("memory")
    assert status0(kube.get_object("v1", "Pod", "filler", namespace)).get("restartCount", 0) == 0, "below the limit: no OOM kill"


def test_unreachable_cluster_and_missing_namespace_exit_2(sandbox, tmp_path):
    import yaml

    cfg = yaml.safe_load(sandbox.kubeconfig.read_text())
    for c in cfg["clusters"]:
        c["cluster"]["server"] = "https://127.0.0.1:9"  # nothing listens on the discard port
    dead = tmp_path / "dead-kubeconfig"
    dead.write_text(yaml.safe_dump(cfg))
    for r, words in ((cli(sandbox, "any", "doctor", env={"KUBECONFIG": str(dead)}), "cannot reach"),
                     (cli(sandbox, "no-such-namespace-d0c", "doctor", "-o", "json"), "does not exist")):
        assert r.returncode == 2 and words in r.stderr and r.stderr.count("\n") == 1 and not r.stdout, (r.stdout, r.stderr)
    r = cli(sandbox, "default", "doctor", "--only", "nosuchcheck")
    assert r.returncode == 2 and "unknown check 'nosuchcheck'" in r.stderr and "Traceback" not in r.stderr, r.stderr


# ---- a check that could not run is not "healthy" ------------------------------------------------

def _config(tmp_path, text: str) -> str:
    path = tmp_path / "tripgenctl.toml"
    path.write_text(text)
    return str(path)


def test_bad_threshold_in_config_does_not_report_healthy(sandbox, namespace, tmp_path):
    """Issue 15/17: `[thresholds] restarts = "many"` made the crash-loop check "could not run"
    and doctor still said healthy, exit 0."""
    sandbox.kube(namespace).request_json("POST", f"/api/v1/namespaces/{namespace}/pods",
                                         pod("looper", [container("main", "busybox", ["sh", "-c", "exit 1"])]))
    config = _config(tmp_path, '[thresholds]\nrestarts = "many"\n')
    r = subprocess.run([sys.executable, "-m", "tripgenctl", "--config", config, "doctor", "--only", "crashloop", "-n", namespace],
                       capture_output=True, text=True, timeout=120, env=sandbox.env(), stdin=subprocess.DEVNULL)
    assert r.returncode != 0 and "healthy" not in r.stdout, r.stdout + r.stderr
    assert "restarts" in r.stdout + r.stderr and "Traceback" not in r.stderr and "TypeError" not in r.stdout + r.stderr
    if r.returncode == 1:  # (a config loader that rejects the value itself would exit 2 with one line)
        assert "1 check(s) could not run (crashloop)" in r.stdout and "[thresholds] restarts must be a number" in r.stdout, r.stdout


def test_could_not_run_fails_doctor_unless_allow_skipped(sandbox, namespace, tmp_path):
    """A NaN threshold is a float, yet no comparison with it is ever true: never an alert."""
    config = _config(tmp_path, "[thresholds]\nmemory_percent = nan\n")
    base = [sys.executable, "-m", "tripgenctl", "--config", config, "doctor", "--only", "memory", "--only", "pending", "-n", namespace]

    def run(*extra):
        return subprocess.run(base + list(extra), capture_output=True, text=True, timeout=120, env=sandbox.env(), stdin=subprocess.DEVNULL)

    table = run()
    assert table.returncode == 1, table.stdout + table.stderr
    assert "1 check(s) could not run (memory)" in table.stdout and "healthy" not in table.stdout, table.stdout
    assert "memory_percent" in table.stdout
    data = validate_json(run("-o", "json").stdout)
    assert data["could_not_run"] == ["memory"] and not data["healthy"] and data["critical"] == 0
    [f] = [f for f in data["findings"] if f["check"] == "memory"]
    assert f["title"] == "check could not run: [thresholds] memory_percent must be a finite number >= 0, got nan", f
    junit = run("-o", "junit")
    assert junit.returncode == 1
    suite = validate_junit(junit.stdout, ["pending", "memory"], expect_errors=1)
    assert "memory_percent" in suite.find("testcase[@name='memory']/error").get("message")

    allowed = run("--allow-skipped")
    assert allowed.returncode == 0 and "could not run (memory)" in allowed.stdout, allowed.stdout + allowed.stderr
    skipped = run("--allow-skipped", "-o", "junit")
    assert skipped.returncode == 0
    suite = validate_junit(skipped.stdout, ["pending", "memory"])
    assert suite.find("testcase[@name='memory']/skipped") is not None and suite.get("skipped") == "1"

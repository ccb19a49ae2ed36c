"""`make demo`: start a sandbox of its own and walk the runbook against it with tripgenctl, step by
step. Each step prints the command it runs, so the demo doubles as a tutorial. The demo owns its
state directory ($TRIPGEN_DEMO_STATE, default .demo): it wipes it first, so a second run, or a
run after someone changed the first one's data, walks the same runbook and ends the same way.
tripgenctl is driven only as a user drives it, through its command line."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

STATE = Path(os.environ.get("TRIPGEN_DEMO_STATE", ".demo")).resolve()
DEMO_ENV = (
    # sandbox placeholders, never real keys: the two values tripgenctl cannot generate itself
    "OPENAI_API_KEY=sk-sandbox-demo-not-a-real-key\n"
    "SERVICEBUS_CONNECTION_STRING=Endpoint=sb://sb-tripgen-dev.servicebus.windows.net/;"
    "SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=c2FuZGJveC1kZW1vLWtleQ==\n"
)


def azure_env() -> dict[str, str]:
    """What `source <state>/azure.env` exports: tripgenctl's cluster and bus commands (and
    doctor's Service Bus check) then talk to the sandbox's Azure fakes."""
    from tripgen_sandbox import control

    az = control.azure_env(STATE)
    if az:
        print(f"(Azure commands: source {STATE / 'azure.env'})")
    return az


def demo_env() -> str:
    """DEMO_ENV, with the Azure fakes' Service Bus connection string when they run (so
    `bus check` and doctor authenticate for real; the key stays in files of mode 0600)."""
    from tripgen_sandbox import control

    conn = control.azure_connection_string(STATE) if control.azure_status(STATE).running else None
    if not conn:
        return DEMO_ENV
    lines = [l for l in DEMO_ENV.splitlines() if not l.startswith("SERVICEBUS_CONNECTION_STRING=")]
    return "\n".join(lines + [f"SERVICEBUS_CONNECTION_STRING={conn}"]) + "\n"


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def step(title: str, *args: str, env: dict | None = None, ok: tuple[int, ...] = (0,)) -> int:
    print(f"\n\033[1m=== {title}\033[0m\n$ tripgenctl {' '.join(shlex.quote(a) for a in args)}", flush=True)
    proc = subprocess.run([sys.executable, "-m", "tripgenctl", *args], env=env)
    if proc.returncode not in ok:
        print(f"demo: step failed with exit code {proc.returncode}", file=sys.stderr)
        sys.exit(proc.returncode)
    return proc.returncode


def kubectl_hint(env: dict) -> None:
    print(f"\n(kubectl users: export KUBECONFIG={env['KUBECONFIG']})")


def fresh_state() -> None:
    """Stop and wipe what an earlier demo left in STATE (only the demo's own directory)."""
    from tripgen_sandbox import control

    if STATE.exists():
        print(f"(wiping the previous demo's sandbox in {STATE})", flush=True)
        control.reset(STATE)


def main() -> None:
    fresh_state()
    step("Start the sandbox cluster (a local Kubernetes 1.29 API with real PostgreSQL and Redis)", "sandbox", "start", "--state-dir", str(STATE))
    env = dict(os.environ, KUBECONFIG=str(STATE / "kubeconfig"))
    env.pop("TRIPGENCTL_CONFIG", None)
    kubectl_hint(env)
    env.update(azure_env())
    step("What runs", "sandbox", "status", "--state-dir", str(STATE), env=env)

    env_file = STATE / "demo.env"
    _write_private(env_file, demo_env())
    step("Create the Secrets (passwords generated; existing ones kept)", "secrets", "init", "--env-file", str(env_file), env=env)
    step("Check them (key names only, never values)", "secrets", "check", env=env)
    step("Deploy the environment (server-side apply, wait for the rollout)", "deploy", env=env)
    step("Nothing drifted from the manifests", "diff", env=env)

    step("Status of every workload", "status", env=env)
    step("Load the schema and sample data (Jobs, in order)", "data", "init", env=env)
    step("Validate the data", "data", "validate", env=env)

    backups = STATE / "backups"
    if "TRIPGENCTL_BACKUP_STORE" in env:  # Azurite runs: the team store (doctor's backup check looks there)
        step("Back up the database to the team store (verified locally, uploaded in blocks, read back)",
             "db", "backup", "--to", "azure", "--backup-dir", str(backups), env=env)
        step("List the team store's backups", "db", "list", "--store", env=env)
    else:
        step("Back up the database (verified before it is kept)", "db", "backup", "--backup-dir", str(backups), env=env)
    step("List backups", "db", "list", "--backup-dir", str(backups), env=env)
    step("Flush the Redis cache", "cache", "flush", "--yes", env=env)

    step("Night: scale the applications down (databases stay up)", "down", "--yes", env=env)
    step("Status while down", "status", env=env)
    step("Morning: bring everything back, databases first", "up", "--yes", env=env)
    step("Status after up", "status", env=env)

    step("Doctor on a healthy environment", "doctor", env=env)
    print("\n=== Break something on purpose: ai-service gets an image tag that does not exist")
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=env["KUBECONFIG"])
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    apps.patch_namespaced_deployment(
        "ai-service", "tripgen-dev",
        {"spec": {"template": {"spec": {"containers": [{"name": "ai-service", "image": "tripgendev.azurecr.io/ai-service:no-such-tag"}]}}}},
    )
    _wait_for_image_pull_failure(core)
    step("Doctor finds it (exit 1: a critical finding)", "doctor", "--only", "image", env=env, ok=(1,))
    step("Fix it: redeploy the manifests", "deploy", env=env)
    step("Doctor again", "doctor", env=env)

    if "TRIPGENCTL_ARM_ENDPOINT" in env:
        step("The AKS cluster itself (the sandbox's local Azure fakes)", "cluster", "status", env=env)
        step("Night: scale the applications down, then stop the whole cluster (nodes are most of the bill)",
             "down", "--cluster", "--yes", env=env)
        step("The cluster while stopped", "cluster", "status", env=env)
        step("Morning: start the cluster, merge fresh credentials, wait for the API, bring everything back",
             "up", "--cluster", "--yes", env=env)
        step("Service Bus: the Secret's key works, the SPEC's queues and their message counts (key never shown)",
             "bus", "check", env=env)
    step("The nightly/morning schedule and its next runs", "schedule", "show", env=env)
    step("Crontab lines for stopping the whole cluster from outside", "schedule", "crontab", env=env)
    print(f"\nDemo finished. The sandbox keeps running: tripgenctl sandbox stop --state-dir {STATE}")


def _wait_for_image_pull_failure(core, timeout: float = 60) -> None:
    from kubernetes import watch

    w = watch.Watch()
    for ev in w.stream(core.list_namespaced_pod, "tripgen-dev", label_selector="app=ai-service", timeout_seconds=int(timeout)):
        for cs in ev["object"].status.container_statuses or []:
            waiting = cs.state.waiting if cs.state else None
            if waiting and waiting.reason in ("ErrImagePull", "ImagePullBackOff"):
                w.stop()
                return


if __name__ == "__main__":
    main()

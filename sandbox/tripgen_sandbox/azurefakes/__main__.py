"""Run the Azure fakes as a process (sandbox, demo):

    python -m tripgen_sandbox.azurefakes --state-dir DIR [--kubeconfig FILE]
        [--on-stop "CMD"] [--on-start "CMD"] [--on-move "CMD"] [--duration 5] [--retry-after 1]
        [--move-address-on-start] [--node-provisioning-mode Manual|Auto]

It writes DIR/azurefakes.json (mode 0600): the URLs, the environment a tripgenctl process needs
(`env`), and the Service Bus connection string for the Secret. --on-stop / --on-start run a
shell command when ARM stops / starts the cluster (e.g. `tripgenctl sandbox stop` / `start`);
the ARM operation succeeds only after the command exits 0. With --move-address-on-start every start
first runs --on-move (the sandbox: `control move-address`, a new API server port), as AKS may hand
back a new address; --node-provisioning-mode Auto reports node auto-provisioning, whose clusters
ARM refuses to stop. The key persists in the state dir,
so a restart keeps connection strings valid."""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import secrets
import signal
import subprocess
from pathlib import Path

from tripgen_sandbox.azurefakes.server import FakeAzure, FakeAzureConfig


def _command_hook(command: str):
    def run() -> None:
        done = subprocess.run(command, shell=True, capture_output=True, text=True)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or [""]
            raise RuntimeError(f"hook `{command}` exited {done.returncode}: {tail[0][:200]}")

    return run


def _kubeconfig_reader(path: Path):
    return lambda: path.read_bytes() if path.exists() else b""


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m tripgen_sandbox.azurefakes")
    ap.add_argument("--state-dir", required=True, type=Path)
    ap.add_argument("--kubeconfig", type=Path, help="file returned (base64) by listClusterUserCredential")
    ap.add_argument("--on-stop", help="shell command run when the cluster is stopped")
    ap.add_argument("--on-start", help="shell command run when the cluster is started")
    ap.add_argument("--on-move", help="shell command run before --on-start when the start moves the API server")
    ap.add_argument("--move-address-on-start", action="store_true", help="every start gives the API server a new address")
    ap.add_argument("--node-provisioning-mode", choices=("Manual", "Auto"), help="report properties.nodeProvisioningProfile.mode")
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--retry-after", type=float, default=1.0)
    ap.add_argument("--subscription", default="00000000-0000-0000-0000-0000000000aa")
    ap.add_argument("--resource-group", default="rg-tripgen-dev")
    ap.add_argument("--cluster-name", default="aks-tripgen-dev")
    ap.add_argument("--power-state", choices=("Running", "Stopped"), default="Running", help="the cluster's power state at start")
    ap.add_argument("--arm-port", type=int, default=0)
    ap.add_argument("--servicebus-port", type=int, default=0)
    args = ap.parse_args(argv)

    state = args.state_dir
    from tripgen_sandbox.private import private_dir

    private_dir(state)
    key_file = state / "azurefakes.key"
    if not key_file.exists():
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(base64.b64encode(secrets.token_bytes(32)).decode())
    previous = {}
    info_file = state / "azurefakes.json"
    if info_file.exists():
        try:
            previous = json.loads(info_file.read_text())
        except ValueError:
            previous = {}
    config = FakeAzureConfig(
        state_dir=state, subscription=args.subscription, resource_group=args.resource_group, cluster_name=args.cluster_name,
        key=key_file.read_text().strip(), duration=args.duration, retry_after=args.retry_after,
        kubeconfig=_kubeconfig_reader(args.kubeconfig) if args.kubeconfig else None,
        on_stop=_command_hook(args.on_stop) if args.on_stop else None,
        on_start=_command_hook(args.on_start) if args.on_start else None,
        on_move=_command_hook(args.on_move) if args.on_move else None,
        arm_port=args.arm_port or previous.get("arm_port", 0), servicebus_port=args.servicebus_port or previous.get("servicebus_port", 0),
    )
    fake = FakeAzure(config)
    fake.cluster.power_state = args.power_state
    fake.cluster.move_address_on_start = args.move_address_on_start
    fake.cluster.node_provisioning_mode = args.node_provisioning_mode
    asyncio.run(_serve(fake, info_file))


async def _serve(fake: FakeAzure, info_file: Path) -> None:
    await fake.serve()
    info = {
        "pid": os.getpid(),
        "arm_url": fake.arm_url,
        "arm_port": int(fake.arm_url.rsplit(":", 1)[1]),
        "servicebus_port": int(fake.servicebus_host.rsplit(":", 1)[1]),
        "ca": str(fake.certs.ca),
        "env": fake.env(),
        "connection_string": fake.connection_string(),
    }
    tmp = info_file.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(info, fh, indent=2)
    os.replace(tmp, info_file)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await fake.shutdown()


if __name__ == "__main__":
    main()

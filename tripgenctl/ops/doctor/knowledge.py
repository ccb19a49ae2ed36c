"""The SPEC's troubleshooting table (seed 11.2 / 8.1), kept as data: each problem's cause, fix and
prevention as the environment's documentation states them."""

from __future__ import annotations

TABLE: dict[str, tuple[str, str, str]] = {
    # problem: (cause, fix, prevention)
    "pending": ("Not enough resources on the nodes.", "Add a node or adjust the pod's resource requests.", "Watch resource usage."),
    "image": ("The image could not be pulled.", "Check ACR authentication and verify the image tag.", "Review the image policy."),
    "database": ("The PostgreSQL pod restarted or is not running.", "Check the pod's state and restart it.", "Stronger health checks."),
    "oom": ("The container exceeded its memory limit.", "Raise the memory limit or stop unneeded pods.", "Watch memory usage."),
    "servicebus": ("The Service Bus connection string is wrong.", "Check and update the Secret's value.", "A secret-management process."),
    "crashloop": ("The container keeps exiting (alert: crash loop with 5 or more restarts).", "Read the previous container's log and fix the failing process or its configuration.", "Health checks and alerting on restarts."),
    "node": ("A node is NotReady (alert: 5 minutes or more).", "Check the node (spot eviction, kubelet); cordon and replace it if it does not recover.", "Watch node health."),
    "memory": ("Memory use is close to the limit (alert: 90 % or more).", "Raise the limit or reduce the workload's memory use.", "Watch memory usage."),
    "disk": ("Disk use is high (alert: 85 % or more).", "Free space (old backups, logs, bloat) or grow the volume.", "Watch disk usage."),
    "secrets": ("A Secret the environment needs is missing or incomplete.", "Create or repair it: tripgenctl secrets init / secrets check.", "A secret-management process."),
    "netpol": ("A NetworkPolicy of the environment is missing or selects the wrong pods.", "Re-apply the manifests: tripgenctl deploy.", "Keep policies in the manifests and check them with tripgenctl diff."),
    "apps": ("An application's health endpoint reports DOWN.", "See which dependency is DOWN and fix it first.", "Stronger health checks."),
    "events": ("Warning events no other check explains.", "Read the events and the objects they name.", "Watch events."),
}


def texts(problem: str) -> dict[str, str]:
    cause, fix, prevention = TABLE[problem]
    return {"cause": cause, "fix": fix, "prevention": prevention}

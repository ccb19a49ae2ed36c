"""The sandbox's kube-controller-manager and kube-scheduler: what turns desired state
(Deployments, StatefulSets, Jobs, CronJobs, PVCs, Services) into pods, bindings, volumes and
endpoints. One small module per controller; manager.py runs them (work queues fed by store
changes plus a periodic resync). The daemon calls ensure_bootstrap() then start_all()."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Callable

from tripgenctl.sandbox.controllers.bootstrap import ensure_bootstrap
from tripgenctl.sandbox.controllers.cronjob import CronJobController
from tripgenctl.sandbox.controllers.deployment import DeploymentController
from tripgenctl.sandbox.controllers.endpoints import EndpointsController
from tripgenctl.sandbox.controllers.gc import GarbageCollector
from tripgenctl.sandbox.controllers.job import JobController
from tripgenctl.sandbox.controllers.manager import Controller, Manager
from tripgenctl.sandbox.controllers.nodes import NodeController
from tripgenctl.sandbox.controllers.replicaset import ReplicaSetController
from tripgenctl.sandbox.controllers.scheduler import Scheduler
from tripgenctl.sandbox.controllers.serviceaccounts import ServiceAccountController
from tripgenctl.sandbox.controllers.statefulset import StatefulSetController
from tripgenctl.sandbox.controllers.volumes import PersistentVolumeController

ALL = (
    NodeController,
    ServiceAccountController,
    PersistentVolumeController,
    DeploymentController,
    ReplicaSetController,
    StatefulSetController,
    CronJobController,
    JobController,
    Scheduler,
    EndpointsController,
    GarbageCollector,
)

__all__ = ["ALL", "Controller", "Manager", "build", "ensure_bootstrap", "start_all"]


def build(cluster, clock: Callable[[], datetime] | None = None, resync: float | None = None) -> Manager:
    """A manager with every controller, not yet running (tests drive it with settle())."""
    manager = Manager(cluster, clock=clock, **({"resync": resync} if resync else {}))
    for cls in ALL:
        manager.add(cls)
    cluster.controllers = manager
    return manager


def start_all(cluster, clock: Callable[[], datetime] | None = None) -> list[asyncio.Task]:
    return build(cluster, clock).start()

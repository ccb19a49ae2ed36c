"""The sandbox's kube-controller-manager and kube-scheduler: what turns desired state
(Deployments, StatefulSets, Jobs, CronJobs, PVCs, Services) into pods, bindings, volumes and
endpoints. One small module per controller; manager.py runs them (work queues fed by store
changes plus a periodic resync). The daemon calls ensure_bootstrap() then start_all()."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Callable

from tripgen_sandbox.controllers.argoselfheal import ArgoSelfHealController
from tripgen_sandbox.controllers.bootstrap import ensure_bootstrap
from tripgen_sandbox.controllers.cronjob import CronJobController
from tripgen_sandbox.controllers.deployment import DeploymentController
from tripgen_sandbox.controllers.endpoints import EndpointsController
from tripgen_sandbox.controllers.gc import GarbageCollector
from tripgen_sandbox.controllers.job import JobController
from tripgen_sandbox.controllers.manager import Controller, Manager
from tripgen_sandbox.controllers.nodes import NodeController
from tripgen_sandbox.controllers.daemonset import DaemonSetController
from tripgen_sandbox.controllers.rbac import ClusterRoleAggregationController
from tripgen_sandbox.controllers.replicaset import ReplicaSetController, ReplicationControllerController
from tripgen_sandbox.controllers.scheduler import Scheduler
from tripgen_sandbox.controllers.serviceaccounts import ServiceAccountController
from tripgen_sandbox.controllers.statefulset import StatefulSetController
from tripgen_sandbox.controllers.volumes import PersistentVolumeController

ALL = (
    NodeController,
    ServiceAccountController,
    PersistentVolumeController,
    DeploymentController,
    ReplicaSetController,
    ReplicationControllerController,
    DaemonSetController,
    StatefulSetController,
    CronJobController,
    JobController,
    Scheduler,
    EndpointsController,
    GarbageCollector,
    ClusterRoleAggregationController,
    ArgoSelfHealController,  # a test stand-in: acts only on Argo CD Applications (sandbox gitops CRDs)
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

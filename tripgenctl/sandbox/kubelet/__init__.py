"""The sandbox kubelet: runs pods bound to the sandbox nodes as local processes."""

from tripgenctl.sandbox.kubelet.core import Kubelet

__all__ = ["Kubelet"]

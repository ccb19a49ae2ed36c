"""The sandbox kubelet: runs pods bound to the sandbox nodes as local processes."""

from tripgen_sandbox.kubelet.core import Kubelet

__all__ = ["Kubelet"]

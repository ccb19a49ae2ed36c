"""The third-party CRDs the sandbox can serve so tripgenctl is tested against the real kinds:
Argo CD's Application, Flux's Kustomization and HelmRelease, KEDA's ScaledObject (their
published schemas, reduced: see the comment atop each file in data/crds/). Installed on demand
(a test fixture, or `tripgenctl sandbox crds`), not at start: most tests want a cluster without
them, which must read as "none found"."""

from __future__ import annotations

from pathlib import Path

DIR = Path(__file__).parent / "data" / "crds"
FILES = ("argocd-application.yaml", "flux-kustomization.yaml", "flux-helmrelease.yaml", "keda-scaledobject.yaml")
NAMES = ("applications.argoproj.io", "kustomizations.kustomize.toolkit.fluxcd.io", "helmreleases.helm.toolkit.fluxcd.io", "scaledobjects.keda.sh")


def paths() -> list[Path]:
    return [DIR / f for f in FILES]

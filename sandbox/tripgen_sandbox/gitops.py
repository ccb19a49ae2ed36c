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


def install(kubeconfig: str | Path) -> list[str]:
    """Create the CRDs (an existing one is left as it is); returns their names. For
    `tripgenctl sandbox start --gitops-crds` and for scripts; tests apply the files with kubectl."""
    import yaml
    from kubernetes import client, config
    from kubernetes.client.rest import ApiException

    api = client.ApiextensionsV1Api(config.new_client_from_config(config_file=str(kubeconfig)))
    for path in paths():
        body = yaml.safe_load(path.read_text())
        try:
            api.create_custom_resource_definition(body)
        except ApiException as exc:
            if exc.status != 409:
                raise
    return list(NAMES)

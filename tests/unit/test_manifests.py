"""The manifests are the environment of SPEC.md: valid for Kubernetes 1.29 in both profiles,
with 001's values by default, 000's from profiles.yaml, and any namespace."""

from __future__ import annotations

import kubernetes_validate
import pytest

from tripgenctl import manifests as m
from tripgenctl.errors import UsageError

APPS = ("user-service", "trip-service", "ai-service", "location-service")


def by_ref(objects):
    return {m.ref(o): o for o in objects}


def container(obj):
    return obj["spec"]["template"]["spec"]["containers"][0]


def env(obj):
    return {e["name"]: e for e in container(obj).get("env", [])}


@pytest.mark.parametrize("profile", ["001", "000"])
def test_every_object_validates_against_kubernetes_1_29(profile):
    objects = m.render("tripgen-dev", profile)
    assert len(objects) >= 20
    for obj in objects:
        kubernetes_validate.validate(obj, "1.29.0", strict=True)


def test_validation_would_catch_a_broken_object():
    broken = by_ref(m.render())["deployment/user-service"]
    container(broken)["resources"]["limits"]["cpu"] = {"not": "a quantity"}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.29.0", strict=True)


def test_default_is_revision_001():
    objs = by_ref(m.render())
    pg = objs["statefulset/postgresql"]
    assert container(pg)["image"] == "postgres:16-alpine"
    claim = pg["spec"]["volumeClaimTemplates"][0]["spec"]
    assert claim["storageClassName"] == "managed-csi" and claim["resources"]["requests"]["storage"] == "50Gi"
    assert container(pg)["volumeMounts"][0]["mountPath"] == "/var/lib/postgresql/data"
    assert env(pg)["PGDATA"]["value"].startswith("/var/lib/postgresql/data/")
    assert env(pg)["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "postgresql-secret", "key": "password"}
    args = " ".join(container(pg)["args"])
    for setting in ("max_connections=100", "shared_buffers=256MB", "effective_cache_size=1GB", "work_mem=4MB", "wal_buffers=16MB"):
        assert f"-c {setting}" in args
    assert container(pg)["readinessProbe"]["exec"]["command"] == ["pg_isready", "-U", "postgres"]

    redis = objs["statefulset/redis"]
    assert container(redis)["image"] == "redis:7.2-alpine"
    args = container(redis)["args"]
    assert args[args.index("--maxmemory") + 1] == "800mb"
    assert args[args.index("--maxmemory-policy") + 1] == "allkeys-lru"
    assert args[args.index("--requirepass") + 1] == "$(REDIS_PASSWORD)"
    assert args[args.index("--save") + 1] == "" and args[args.index("--appendonly") + 1] == "no"
    assert "volumeClaimTemplates" not in redis["spec"]

    expected = {"user-service": ("100m", "500m", "256Mi", "512Mi"), "trip-service": ("200m", "1000m", "512Mi", "1Gi"),
                "ai-service": ("300m", "1500m", "512Mi", "1Gi"), "location-service": ("100m", "500m", "256Mi", "512Mi")}
    for app, (cr, cl, mr, ml) in expected.items():
        d = objs[f"deployment/{app}"]
        c = container(d)
        assert c["image"] == f"tripgendev.azurecr.io/{app}:1.0.0"
        assert c["resources"] == {"requests": {"cpu": cr, "memory": mr}, "limits": {"cpu": cl, "memory": ml}}
        assert d["spec"]["template"]["metadata"]["labels"]["tier"] == "application"
        assert d["spec"]["replicas"] == 1
        for probe, path in (("readinessProbe", "/actuator/health/readiness"), ("livenessProbe", "/actuator/health/liveness")):
            assert c[probe]["httpGet"]["path"] == path
            assert (c[probe]["periodSeconds"], c[probe]["timeoutSeconds"]) == (30, 5)
        e = env(d)
        assert e["SPRING_DATASOURCE_URL"]["value"] == "jdbc:postgresql://postgresql.tripgen-dev.svc.cluster.local:5432/tripgen"
        assert e["SPRING_DATA_REDIS_HOST"]["value"] == "redis.tripgen-dev.svc.cluster.local"
        assert e["SPRING_DATA_REDIS_PORT"]["value"] == "6379"
        assert e["SPRING_DATASOURCE_USERNAME"]["valueFrom"]["secretKeyRef"] == {"name": "postgresql-secret", "key": "username"}
        assert e["SPRING_DATASOURCE_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "postgresql-secret", "key": "password"}
        assert e["SPRING_DATA_REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "redis-secret", "key": "password"}
        assert objs[f"service/{app}"]["spec"]["ports"][0]["port"] == 8080
    assert objs["service/postgresql"]["spec"]["ports"][0]["port"] == 5432
    assert objs["service/redis"]["spec"]["ports"][0]["port"] == 6379
    policies = {r.split("/")[1] for r in objs if r.startswith("networkpolicy/")}
    assert policies == {"allow-ingress-to-apps", "allow-apps-to-db", "allow-apps-to-cache", "allow-external-api"}
    ing = objs["ingress/tripgen"]
    assert ing["spec"]["ingressClassName"] == "nginx" and ing["spec"]["tls"][0]["secretName"]
    assert {"serviceaccount/tripgenctl", "role/tripgenctl", "rolebinding/tripgenctl"} <= set(objs)
    # secrets are never in the manifests
    assert not [r for r in objs if r.startswith("secret/")]


def test_profile_000_is_the_older_revision():
    objs = by_ref(m.render(profile="000"))
    pg = objs["statefulset/postgresql"]
    assert container(pg)["image"] == "bitnami/postgresql:16"
    assert pg["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "20Gi"
    assert "POSTGRESQL_PASSWORD" in env(pg) and "POSTGRES_PASSWORD" not in env(pg) and "PGDATA" not in env(pg)
    assert objs["persistentvolume/tripgen-dev-postgresql-data"]["spec"]["hostPath"]["path"] == "/data/postgresql"
    redis = objs["statefulset/redis"]
    assert container(redis)["image"] == "bitnami/redis:7.2"
    args = container(redis)["args"]
    assert args[args.index("--maxmemory") + 1] == "512mb"
    assert container(redis)["resources"]["requests"] == {"cpu": "100m", "memory": "256Mi"}  # cpu kept from 001
    assert container(objs["deployment/user-service"])["resources"]["limits"] == {"cpu": "200m", "memory": "256Mi"}
    assert container(objs["deployment/ai-service"])["resources"]["requests"]["cpu"] == "200m"
    policies = {r.split("/")[1] for r in objs if r.startswith("networkpolicy/")}
    assert policies == {"allow-apps-to-db", "dev-basic-policy"}
    # the rest is untouched: same env contract
    assert env(objs["deployment/trip-service"])["SPRING_DATA_REDIS_PORT"]["value"] == "6379"


def test_render_into_another_namespace():
    objs = m.render("it-ns-1")
    for o in objs:
        if o["kind"] not in m.CLUSTER_SCOPED:
            assert o["metadata"]["namespace"] == "it-ns-1", m.ref(o)
    objs = by_ref(objs)
    assert "namespace/it-ns-1" in objs
    assert env(objs["deployment/user-service"])["SPRING_DATASOURCE_URL"]["value"] == "jdbc:postgresql://postgresql.it-ns-1.svc.cluster.local:5432/tripgen"
    assert objs["rolebinding/tripgenctl"]["subjects"][0]["namespace"] == "it-ns-1"
    assert "tripgendev.azurecr.io" in container(objs["deployment/user-service"])["image"]
    pv = by_ref(m.render("it-ns-1", "000"))["persistentvolume/it-ns-1-postgresql-data"]
    assert pv["spec"]["claimRef"]["namespace"] == "it-ns-1"


def test_unknown_profile_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown profile '002'"):
        m.render(profile="002")


def test_merge_directives():
    base = {"env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}], "args": ["x", "y"], "keep": 1, "drop": 2}
    out = m.merge(base, {"env": [{"name": "B", "$patch": "delete"}, {"name": "C", "value": "3"}, {"name": "A", "value": "9"}], "args": ["z"], "drop": None})
    assert m.strip_directives(out) == {"env": [{"name": "A", "value": "9"}, {"name": "C", "value": "3"}], "args": ["z"], "keep": 1}
    out = m.strip_directives(m.merge(base, {"env": [{"$patch": "replace"}, {"name": "Z", "value": "0"}]}))
    assert out["env"] == [{"name": "Z", "value": "0"}]
    assert base["env"][1] == {"name": "B", "value": "2"}  # inputs untouched


def test_subdirectory_sets_render_with_the_profile(tmp_path):
    (tmp_path / "profiles.yaml").write_text('default: "001"\nprofiles:\n  "001": {}\n  "000":\n    images: {"postgres:16-alpine": "bitnami/postgresql:16"}\n')
    (tmp_path / "data-init").mkdir()
    (tmp_path / "data-init" / "job.yaml").write_text(
        "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j, namespace: tripgen-dev}\nspec:\n  template:\n    spec:\n"
        "      restartPolicy: Never\n      containers: [{name: c, image: 'postgres:16-alpine', args: [psql, -h, postgresql.tripgen-dev.svc.cluster.local]}]\n"
    )
    job = m.render("other", "000", directory=tmp_path, subdir="data-init")[0]
    c = job["spec"]["template"]["spec"]["containers"][0]
    assert c["image"] == "bitnami/postgresql:16"
    assert c["args"][2] == "postgresql.other.svc.cluster.local"
    assert job["metadata"]["namespace"] == "other"
    assert m.render("other", None, directory=tmp_path, subdir="data-init")[0]["spec"]["template"]["spec"]["containers"][0]["image"] == "postgres:16-alpine"

"""Pure logic of diff, deploy and the production guard: no cluster needed."""

from __future__ import annotations

import copy

from tripgenctl import manifests as m
from tripgenctl.ops import deploy as dep
from tripgenctl.ops import diff as d
from tripgenctl.ops import guard


def manifest(ref):
    return copy.deepcopy({m.ref(o): o for o in m.render()}[ref])


def as_live(obj, **extra_status):
    """What a server would hand back: defaults, bookkeeping, status."""
    live = copy.deepcopy(obj)
    meta = live["metadata"]
    meta.update(uid="u-1", resourceVersion="42", generation=3, creationTimestamp="2025-01-01T00:00:00Z",
                managedFields=[{"manager": "tripgenctl"}])
    meta.setdefault("annotations", {})["deployment.kubernetes.io/revision"] = "3"
    meta["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] = "{}"
    meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = "x"  # added by others: not drift
    if live["kind"] == "Deployment":
        live["spec"]["revisionHistoryLimit"] = 10
        live["spec"]["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}
        tpl = live["spec"]["template"]
        tpl["metadata"]["creationTimestamp"] = None
        tpl["spec"].update(restartPolicy="Always", dnsPolicy="ClusterFirst", schedulerName="default-scheduler")
        c = tpl["spec"]["containers"][0]
        c.update(terminationMessagePath="/dev/termination-log", terminationMessagePolicy="File")
        c["readinessProbe"]["successThreshold"] = 1
        c["readinessProbe"]["httpGet"]["scheme"] = "HTTP"
        c["resources"]["limits"]["cpu"] = {"1000m": "1", "500m": "500m", "1500m": "1500m"}[c["resources"]["limits"]["cpu"]]
    live["status"] = {"replicas": 1, **extra_status}
    return live


def test_server_defaults_and_bookkeeping_are_not_differences():
    for ref in ("deployment/trip-service", "deployment/user-service", "service/postgresql", "networkpolicy/allow-external-api"):
        obj = manifest(ref)
        assert d.diff_object(obj, as_live(obj)) == [], ref


def test_scale_and_set_env_are_named():
    obj = manifest("deployment/trip-service")
    live = as_live(obj)
    live["spec"]["replicas"] = 0
    env = live["spec"]["template"]["spec"]["containers"][0]["env"]
    env.append({"name": "FOO", "value": "bar"})
    next(e for e in env if e["name"] == "SPRING_PROFILES_ACTIVE")["value"] = "prod"
    got = {(f.field, f.change, f.manifest, f.live) for f in d.diff_object(obj, live)}
    assert ("spec.replicas", "changed", "1", "0") in got
    assert ("spec.template.spec.containers['trip-service'].env['FOO']", "extra", "-", "FOO=bar") in got
    assert ("spec.template.spec.containers['trip-service'].env['SPRING_PROFILES_ACTIVE'].value", "changed", "dev", "prod") in got
    assert len(got) == 3


def test_quantities_compare_by_value_and_strict_maps_catch_extra_keys():
    obj = manifest("deployment/ai-service")
    live = as_live(obj)
    res = live["spec"]["template"]["spec"]["containers"][0]["resources"]
    res["requests"]["memory"] = "536870912"  # 512Mi spelled in bytes: same
    assert d.diff_object(obj, live) == []
    res["limits"]["ephemeral-storage"] = "1Gi"
    res["limits"]["cpu"] = "2"
    got = {(f.field, f.change) for f in d.diff_object(obj, live)}
    assert got == {("spec.template.spec.containers['ai-service'].resources.limits.cpu", "changed"),
                   ("spec.template.spec.containers['ai-service'].resources.limits.ephemeral-storage", "extra")}


def test_missing_fields_and_changed_scalar_lists():
    obj = manifest("statefulset/redis")
    live = as_live(obj)
    c = live["spec"]["template"]["spec"]["containers"][0]
    c["args"][c["args"].index("800mb")] = "100mb"
    del c["livenessProbe"]
    got = {(f.field, f.change) for f in d.diff_object(obj, live)}
    assert ("spec.template.spec.containers['redis'].args[3]", "changed") in got
    assert ("spec.template.spec.containers['redis'].livenessProbe", "missing") in got


def test_secret_looking_values_are_hidden():
    obj = manifest("deployment/user-service")
    live = as_live(obj)
    env = live["spec"]["template"]["spec"]["containers"][0]["env"]
    env.append({"name": "DB_PASSWORD", "value": "hunter2-live"})
    env.append({"name": "OPENAI_API_KEY_OVERRIDE", "value": "sk-live-value"})
    env[0] = {"name": env[0]["name"], "value": "x"}
    text = repr(d.diff_object(obj, live))
    assert "hunter2-live" not in text and "sk-live-value" not in text
    assert "DB_PASSWORD=(hidden)" in text
    assert d.show("topsecret", "spec.containers['a'].env['JWT_SECRET'].value") == "(hidden)"
    assert d.show("dev", "spec.containers['a'].env['SPRING_PROFILES_ACTIVE'].value") == "dev"


def test_normalize_drops_server_fields_only():
    live = as_live(manifest("service/redis"))
    live["metadata"]["annotations"]["team"] = "dev"
    n = d.normalize(live)
    assert "status" not in n
    assert set(n["metadata"]) == {"name", "namespace", "labels", "annotations"}
    assert n["metadata"]["annotations"] == {"team": "dev"}


def test_prune_extras_removes_hand_made_additions_only():
    obj = manifest("deployment/trip-service")
    live = as_live(obj)
    c = live["spec"]["template"]["spec"]["containers"][0]
    c["env"].append({"name": "FOO", "value": "bar"})
    c["resources"]["limits"]["ephemeral-storage"] = "1Gi"
    pruned = dep.prune_extras(live, obj)
    pc = pruned["spec"]["template"]["spec"]["containers"][0]
    assert "FOO" not in {e["name"] for e in pc["env"]}
    assert "ephemeral-storage" not in pc["resources"]["limits"]
    assert pruned["metadata"]["resourceVersion"] == "42"  # the update stays guarded
    assert pruned["spec"]["strategy"] == live["spec"]["strategy"]  # defaults untouched
    assert dep.prune_extras(as_live(obj), obj) is None


def test_workload_status():
    obj = manifest("deployment/user-service")
    live = as_live(obj, observedGeneration=3, readyReplicas=1, updatedReplicas=1, availableReplicas=1)
    assert dep.workload_status(live).done
    stale = as_live(obj, observedGeneration=2, readyReplicas=1, updatedReplicas=1, availableReplicas=1)
    assert not dep.workload_status(stale).done
    assert dep.workload_status(stale).detail == "waiting for the controller"
    rolling = as_live(obj, observedGeneration=3, readyReplicas=1, updatedReplicas=0, availableReplicas=1)
    assert not dep.workload_status(rolling).done
    sts = as_live(manifest("statefulset/postgresql"), observedGeneration=3, readyReplicas=0)
    st = dep.workload_status(sts)
    assert (st.done, st.ready, st.desired, st.workload) == (False, 0, 1, "statefulset/postgresql")
    sts["status"].update(readyReplicas=1, updatedReplicas=1, currentRevision="a", updateRevision="a")
    assert dep.workload_status(sts).done


def test_guard():
    patterns = ["tripgen-sandbox", "aks-tripgen-dev*"]
    assert guard.check_target("aks-tripgen-dev-admin", "https://x", patterns, []).expected
    t = guard.check_target("aks-tripgen-prod", "https://prod", patterns, [])
    assert not t.expected and 'context "aks-tripgen-prod"' in t.reason
    t = guard.check_target("tripgen-sandbox", "https://10.0.0.1:443", patterns, ["https://127.0.0.1:*"])
    assert not t.expected and "https://10.0.0.1:443" in t.reason
    assert guard.check_target("tripgen-sandbox", "https://127.0.0.1:4000", patterns, ["https://127.0.0.1:*"]).expected


def test_a_status_write_between_read_and_apply_is_not_configured():
    """A controller settling a fresh rollout writes status and its revision annotation (a new
    resourceVersion) between deploy's read and its apply: the apply changed nothing."""
    desired = manifest("deployment/user-service")
    live = as_live(desired, replicas=0)
    applied = copy.deepcopy(live)
    applied["metadata"]["resourceVersion"] = "43"
    applied["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "4"
    applied["status"] = {"replicas": 1, "readyReplicas": 1, "observedGeneration": 3}
    assert dep.applied_action(live, applied, desired) == "unchanged"
    assert dep.applied_action(None, applied, desired) == "created"
    changed = copy.deepcopy(applied)
    changed["spec"]["replicas"] = 5
    assert dep.applied_action(live, changed, desired) == "configured"
    relabelled = copy.deepcopy(applied)
    relabelled["metadata"]["labels"]["app.kubernetes.io/part-of"] = "other"
    assert dep.applied_action(live, relabelled, desired) == "configured"

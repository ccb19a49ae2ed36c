"""Pure parts of deploy's ownership and of credential rotation: which changes need a recreate (and
what that does to the data), the ApplySet's names, SCRAM/md5 verification, allow-all rules,
which workloads read a Secret, where a new credential value may come from."""

from __future__ import annotations

import copy
import hashlib

import pytest

from tripgenctl import manifests
from tripgenctl.errors import UsageError
from tripgenctl.ops import applyset, credentials, immutable, restart, rotate
from tripgenctl.ops.doctor.service_checks import _admits_everyone


def rendered(profile: str, kind: str, name: str) -> dict:
    return next(o for o in manifests.render("tripgen-dev", profile) if o["kind"] == kind and o["metadata"]["name"] == name)


def test_statefulset_volume_claim_templates_need_recreate_template_changes_do_not():
    new, old = rendered("001", "StatefulSet", "postgresql"), rendered("000", "StatefulSet", "postgresql")
    paths = immutable.changes(new, old)
    assert paths and all(p.startswith("spec.volumeClaimTemplates['data'].spec.") for p in paths), paths
    assert "spec.volumeClaimTemplates['data'].spec.storageClassName" in paths
    scaled = copy.deepcopy(new)
    scaled["spec"]["replicas"] = 0
    scaled["spec"]["template"]["spec"]["containers"][0]["image"] = "postgres:16.4-alpine"
    assert immutable.changes(scaled, new) == []
    renamed = copy.deepcopy(new)
    renamed["spec"]["serviceName"] = "pg"
    assert immutable.changes(renamed, new) == ["spec.serviceName"]


def test_recreate_consequence_names_the_kept_claims():
    new, old = rendered("001", "StatefulSet", "postgresql"), rendered("000", "StatefulSet", "postgresql")
    note = immutable.consequence(new, old, immutable.changes(new, old), {"data-postgresql-0", "unrelated"})
    assert "--cascade=orphan" in note and "data-postgresql-0 are kept" in note and "db backup" in note
    pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "x"}, "spec": {"storageClassName": "a"}}
    assert "never deletes" in immutable.consequence(pvc, pvc, ["spec.storageClassName"], set())


def test_other_immutable_fields():
    dep = rendered("001", "Deployment", "user-service")
    moved = copy.deepcopy(dep)
    moved["spec"]["selector"]["matchLabels"]["app"] = "other"
    assert immutable.changes(moved, dep) == ["spec.selector.matchLabels.app"]
    assert immutable.changes(dep, dep) == []
    rb = {"kind": "RoleBinding", "roleRef": {"kind": "Role", "name": "a", "apiGroup": "rbac.authorization.k8s.io"}}
    assert immutable.changes(rb, {**rb, "roleRef": {**rb["roleRef"], "name": "b"}}) == ["roleRef.name"]
    pvc = {"kind": "PersistentVolumeClaim", "spec": {"storageClassName": "managed-csi", "resources": {"requests": {"storage": "100Gi"}}}}
    live = {"kind": "PersistentVolumeClaim", "spec": {"storageClassName": "managed-csi", "resources": {"requests": {"storage": "50Gi"}}}}
    assert immutable.changes(pvc, live) == []  # an expansion is allowed
    assert immutable.changes({**pvc, "spec": {**pvc["spec"], "storageClassName": "x"}}, live) == ["spec.storageClassName"]
    cm = {"kind": "ConfigMap", "data": {"a": "1"}}
    assert immutable.changes(cm, {**cm, "data": {"a": "2"}}) == []
    assert immutable.changes(cm, {**cm, "immutable": True, "data": {"a": "2"}}) == ["data.a"]


def test_data_note_when_postgresql_moves_off_its_data():
    new, old = rendered("001", "StatefulSet", "postgresql"), rendered("000", "StatefulSet", "postgresql")
    note = immutable.data_note(new, old)
    assert "data path /bitnami/postgresql -> /var/lib/postgresql/data" in note and "db backup" in note
    bumped = copy.deepcopy(new)
    bumped["spec"]["template"]["spec"]["containers"][0]["image"] = "postgres:16.4-alpine"
    assert immutable.data_note(bumped, new) == ""  # a new tag of the same image is no move
    assert immutable.data_note(rendered("001", "Deployment", "user-service"), rendered("000", "Deployment", "user-service")) == ""


def test_applyset_names():
    sid = applyset.set_id("tripgen-dev")
    assert sid.startswith("applyset-") and sid.endswith("-v1") and len(sid) <= 63 and "=" not in sid
    assert sid != applyset.set_id("tripgen-qa")
    assert applyset.group_kind({"apiVersion": "v1", "kind": "Service"}) == "Service"
    assert applyset.group_kind({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy"}) == "NetworkPolicy.networking.k8s.io"
    marked = applyset.mark({"kind": "Service", "metadata": {"name": "a"}}, "tripgen-dev")
    assert marked["metadata"]["labels"] == {applyset.PART_OF: sid}
    parent = applyset.parent("tripgen-dev", {"Service", "Deployment.apps"})
    assert parent["metadata"]["annotations"][applyset.GROUP_KINDS] == "Deployment.apps,Service"
    assert parent["metadata"]["labels"][applyset.ID_LABEL] == sid


def test_scram_and_md5_verification():
    v = credentials.scram_verifier("correct horse", salt=b"0123456789abcdef")
    assert v.startswith("SCRAM-SHA-256$4096:") and v == credentials.scram_verifier("correct horse", salt=b"0123456789abcdef")
    assert credentials.password_matches("correct horse", v, "postgres")
    assert not credentials.password_matches("correct horsf", v, "postgres")
    assert not credentials.password_matches("x", "SCRAM-SHA-256$garbage", "postgres")
    assert not credentials.password_matches("x", "", "postgres")
    md5 = "md5" + hashlib.md5(b"pwpostgres").hexdigest()
    assert credentials.password_matches("pw", md5, "postgres") and not credentials.password_matches("pw", md5, "other")
    assert repr(credentials.RoleState("postgres", True, True, v)).count("SCRAM") == 0  # never shown


@pytest.mark.parametrize("rule, opened", [
    ({}, True),
    ({"from": []}, True),
    ({"from": [{"podSelector": {}}]}, True),
    ({"from": [{"namespaceSelector": {}}]}, True),
    ({"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}, True),
    ({"from": [{"podSelector": {"matchLabels": {"tier": "application"}}}]}, False),
    ({"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}]}, False),
    ({"from": [{"namespaceSelector": {"matchLabels": {"a": "b"}}, "podSelector": {}}]}, False),
])
def test_allow_all_rules(rule, opened):
    assert bool(_admits_everyone(rule)) is opened


def test_which_workloads_read_a_secret():
    dep = rendered("001", "Deployment", "ai-service")
    assert restart.references_secret(dep, "openai-api-key") and restart.references_secret(dep, "postgresql-secret")
    assert not restart.references_secret(rendered("001", "Deployment", "user-service"), "openai-api-key")
    vol = {"spec": {"template": {"spec": {"containers": [], "volumes": [{"name": "v", "projected": {"sources": [{"secret": {"name": "s"}}]}}]}}}}
    assert restart.references_secret(vol, "s")
    w = restart.of(rendered("001", "StatefulSet", "redis"), "StatefulSet")
    assert (w.ref, w.replicas, w.restarted_at, w.template_annotations) == ("statefulset/redis", 1, None, None)


def test_new_credential_values():
    with pytest.raises(UsageError, match="unknown credential 'mysql'"):
        rotate.get_credential("mysql")
    pg = rotate.get_credential("postgres")
    generated = rotate._new_value(pg, {}, "old-value")
    assert len(generated) >= 32 and generated != "old-value"
    assert rotate._new_value(pg, {"POSTGRES_PASSWORD": "chosen-pw"}, "old-value") == "chosen-pw"
    with pytest.raises(UsageError, match="nothing to rotate"):
        rotate._new_value(pg, {"POSTGRES_PASSWORD": "same"}, "same")
    with pytest.raises(UsageError, match="set OPENAI_API_KEY"):
        rotate._new_value(rotate.get_credential("openai"), {}, "sk-old")
    with pytest.raises(UsageError, match="SERVICEBUS_CONNECTION_STRING is not a Service Bus"):
        rotate._new_value(rotate.get_credential("servicebus"), {"SERVICEBUS_CONNECTION_STRING": "Endpoint=https://x"}, "old")

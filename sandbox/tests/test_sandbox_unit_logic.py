"""Pure logic of the sandbox's API server: selectors, patches, server-side apply bookkeeping,
protobuf decoding. No cluster."""

from __future__ import annotations

import pytest

from tripgen_sandbox.apierrors import ApiError
from tripgen_sandbox.apiserver import apply as ssa
from tripgen_sandbox.apiserver.patch import json_merge_patch, json_patch, strategic_merge_patch
from tripgen_sandbox.selectors import match_label_selector_obj, parse_field_selector, parse_label_selector


def test_label_selectors():
    sel = parse_label_selector("tier=application,env!=prod,team in (a,b),!legacy")
    assert sel({"tier": "application", "env": "dev", "team": "a"})
    assert not sel({"tier": "application", "env": "prod", "team": "a"})
    assert not sel({"tier": "application", "team": "c"})
    assert not sel({"tier": "application", "team": "a", "legacy": "1"})
    assert match_label_selector_obj({"matchLabels": {"a": "1"}, "matchExpressions": [{"key": "b", "operator": "Exists"}]}, {"a": "1", "b": ""})
    assert not match_label_selector_obj({"matchExpressions": [{"key": "b", "operator": "NotIn", "values": ["x"]}]}, {"b": "x"})
    fsel = parse_field_selector("metadata.name=p,status.phase!=Running")
    assert fsel({"metadata": {"name": "p"}, "status": {"phase": "Pending"}})
    assert not fsel({"metadata": {"name": "p"}, "status": {"phase": "Running"}})
    with pytest.raises(ApiError):
        parse_label_selector("a in (")({})


def test_patches():
    assert json_merge_patch({"a": 1, "b": {"c": 2}}, {"b": {"c": None, "d": 3}}) == {"a": 1, "b": {"d": 3}}
    assert json_patch({"a": [1, 2]}, [{"op": "add", "path": "/a/-", "value": 3}, {"op": "replace", "path": "/a/0", "value": 0}]) == {"a": [0, 2, 3]}
    with pytest.raises(ApiError):
        json_patch({"a": 1}, [{"op": "test", "path": "/a", "value": 2}])
    cur = {"spec": {"containers": [{"name": "a", "image": "x", "env": [{"name": "A", "value": "1"}]}, {"name": "b", "image": "y"}]}}
    out = strategic_merge_patch(cur, {"spec": {"containers": [{"name": "a", "env": [{"name": "B", "value": "2"}]}]}})
    assert [c["name"] for c in out["spec"]["containers"]] == ["a", "b"]
    assert out["spec"]["containers"][0]["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    out = strategic_merge_patch(cur, {"spec": {"containers": [{"name": "b", "$patch": "delete"}]}})
    assert [c["name"] for c in out["spec"]["containers"]] == ["a"]


def test_server_side_apply_ownership():
    first = ssa.apply(None, {"metadata": {"name": "x"}, "data": {"a": "1", "b": "2"}}, "m1", False, "v1")
    assert ssa.managers(first)[("m1", "Apply")] == {(("f", "metadata"), ("f", "name")), (("f", "data"), ("f", "a")), (("f", "data"), ("f", "b"))}
    second = ssa.apply(first, {"metadata": {"name": "x"}, "data": {"a": "1"}}, "m1", False, "v1")
    assert second["data"] == {"a": "1"}
    edited = dict(second, data={"a": "9"})
    ssa.record_update(second, edited, "human", "v1")
    with pytest.raises(ApiError) as exc:
        ssa.apply(edited, {"metadata": {"name": "x"}, "data": {"a": "1"}}, "m1", False, "v1")
    assert exc.value.code == 409 and "human" in exc.value.message
    forced = ssa.apply(edited, {"metadata": {"name": "x"}, "data": {"a": "1"}}, "m1", True, "v1")
    assert forced["data"] == {"a": "1"}
    tree = ssa.to_fields_v1({(("f", "spec"), ("f", "containers"), ("k", '{"name":"a"}'), (".", ""))})
    assert tree == {"f:spec": {"f:containers": {'k:{"name":"a"}': {".": {}}}}}
    assert ssa.from_fields_v1(tree) == {(("f", "spec"), ("f", "containers"), ("k", '{"name":"a"}'), (".", ""))}


def test_protobuf_delete_options_and_configmap():
    import base64

    from tripgen_sandbox.apiserver import protobuf

    def field(num, wt, payload):
        key = bytes([(num << 3) | wt])
        if wt == 2:
            return key + bytes([len(payload)]) + payload
        return key + bytes([payload])

    meta = field(1, 2, b"cm1") + field(11, 2, field(1, 2, b"app") + field(2, 2, b"x"))
    cm = field(1, 2, meta) + field(2, 2, field(1, 2, b"k") + field(2, 2, b"v"))
    envelope = protobuf.MAGIC + field(1, 2, field(1, 2, b"v1") + field(2, 2, b"ConfigMap")) + field(2, 2, cm)
    obj = protobuf.decode_body(envelope)
    assert obj == {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm1", "labels": {"app": "x"}}, "data": {"k": "v"}}
    opts = field(4, 2, b"Orphan") + field(1, 0, 0)
    env2 = protobuf.MAGIC + field(1, 2, field(1, 2, b"v1") + field(2, 2, b"DeleteOptions")) + field(2, 2, opts)
    assert protobuf.decode_body(env2)["propagationPolicy"] == "Orphan"
    with pytest.raises(ApiError) as exc:
        protobuf.decode_body(protobuf.MAGIC + field(1, 2, field(2, 2, b"Deployment")))
    assert exc.value.code == 415
    assert base64  # noqa: B018


@pytest.mark.parametrize("selector, message", [
    ("app=web?watch=1", 'unable to parse requirement: values[0][app]: Invalid value: "web?watch": a valid label must be an empty string'),
    ("app===web", "unable to parse requirement: found '=', expected: identifier"),
    ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
    ("a,", "found '', expected: identifier after ','"),
    ("!a=b", "found '=', expected: ',' or 'end of string'"),
    ("a>x", "unable to parse requirement: values[0]: Invalid value: \"x\": for 'Gt', 'Lt' operators, the value must be an integer"),
    ("a=" + "v" * 64, f'unable to parse requirement: values[0][a]: Invalid value: "{"v" * 64}": must be no more than 63 characters'),
    ("Bad_/x=1", 'unable to parse requirement: key: Invalid value: "Bad_/x": prefix part a lowercase RFC 1123 subdomain'),
])
def test_a_label_selector_the_api_server_refuses_is_a_400_with_its_text(selector, message):
    """apimachinery's labels.Parse: what kube-apiserver answers 400 to (a `?` glued into a
    value was accepted here, and hid a watch that a real server refused)."""
    with pytest.raises(ApiError) as err:
        parse_label_selector(selector)
    assert err.value.code == 400 and str(err.value).startswith(message), str(err.value)


@pytest.mark.parametrize("selector, labels, matches", [
    ("a=", {"a": ""}, True), ("a in ()", {"a": ""}, True), ("a notin (x)", {}, True), ("a!=x", {}, True),
    ("a in (x, y)", {"a": "y"}, True), ("a>3", {"a": "4"}, True), ("a<3", {"a": "4"}, False), ("a>3", {"a": "four"}, False),
    ("app.kubernetes.io/name==web", {"app.kubernetes.io/name": "web"}, True), ("!a", {"a": "1"}, False),
])
def test_label_selector_operators_match_as_the_api_server_does(selector, labels, matches):
    assert parse_label_selector(selector)(labels) is matches


def test_an_events_source_field_label_is_its_component():
    sel = parse_field_selector("source=kubelet,reason=Started")
    assert sel({"source": {"component": "kubelet"}, "reason": "Started"})
    assert not sel({"source": {"component": "tripgenctl"}, "reason": "Started"})

"""A Secret of the Kubernetes door never shows a value: not in repr(), str(), an f-string, a
dataclass holding it, or a pickle. (The door's import and path rules: test_door_rules.py.)"""

from __future__ import annotations

import pickle
from dataclasses import dataclass

import pytest

from tripgenctl.kube.secrets import Secret

# ---- Secret never shows a value ---------------------------------------------------------------

VALUE = "s3cr3t-Pa55word"


def secret() -> Secret:
    body = Secret.manifest("postgresql-secret", "tripgen-dev", {"username": "postgres", "password": VALUE}, labels={"a": "b"})
    body["metadata"]["resourceVersion"] = "7"
    return Secret(body)


def test_a_secret_shows_its_name_and_keys_and_never_a_value():
    s = secret()
    import base64

    encoded = base64.b64encode(VALUE.encode()).decode()
    for shown in (repr(s), str(s), f"{s}", f"{s!r}", "%s" % s, repr([s]), repr({"s": s})):
        assert VALUE not in shown and encoded not in shown, shown
        assert "postgresql-secret" in shown and "password" in shown
    assert repr(s) == "Secret(name='postgresql-secret', namespace='tripgen-dev', keys=['password', 'username'])"


def test_a_dataclass_holding_a_secret_shows_no_value():
    @dataclass
    class Plan:
        secret: Secret

    assert VALUE not in repr(Plan(secret()))


def test_a_secret_cannot_be_pickled_or_dumped_as_attributes():
    s = secret()
    with pytest.raises(TypeError):
        pickle.dumps(s)
    with pytest.raises(TypeError):
        vars(s)


def test_a_secret_gives_its_values_only_when_asked_by_name():
    s = secret()
    assert s.values() == {"username": "postgres", "password": VALUE}
    assert s.value("password") == VALUE and s.value("database", "tripgen") == "tripgen"
    assert s.present("password") and not s.present("database") and s.non_empty("username")
    assert s.resource_version == "7" and s.labels == {"a": "b"}


def test_an_undecodable_value_reads_as_empty():
    s = Secret({"metadata": {"name": "x", "namespace": "n"}, "data": {"k": "%%%not-base64", "e": ""}})
    assert s.value("k", "fallback") == "" and s.value("e", "fallback") == "fallback"

"""The safety contract's pure parts: exact context names unless the user wrote a pattern, the
plan's question, the gate's order (dry run before the question, no question with --yes, none
for a plan that destroys nothing), the Event's shape."""

from __future__ import annotations

import pytest

from tripgenctl.config import ToolConfig
from tripgenctl.errors import NotConfirmed, UsageError
from tripgenctl.ops import guard, safety


class FakeKube:
    """Only the three attributes the guard reads (not an SDK mock: the guard reads no SDK)."""

    def __init__(self, context: str, namespace: str = "tripgen-dev", server: str = "https://127.0.0.1:6443"):
        self.context_name, self.namespace, self.server = context, namespace, server


def test_default_contexts_are_exact_names():
    cfg = ToolConfig()
    assert cfg.target_contexts() == ["tripgen-sandbox", "tripgen-sandbox-cert", "aks-tripgen-dev"]
    assert guard.target_of(FakeKube("aks-tripgen-dev"), cfg).expected
    for other in ("aks-tripgen-dev-prod", "aks-tripgen-dev2", "tripgen-dev-prod", "xtripgen-sandbox", "tripgen-sandbox-"):
        target = guard.target_of(FakeKube(other), cfg)
        assert not target.expected, other
        assert f'context "{other}"' in target.reason


def test_a_pattern_only_when_written_and_anchored():
    cfg = ToolConfig(expected_contexts=["aks-team-?-dev", "tripgen-sandbox"])
    assert guard.target_of(FakeKube("aks-team-a-dev"), cfg).expected
    assert not guard.target_of(FakeKube("aks-team-a-dev-prod"), cfg).expected  # anchored at the end
    assert not guard.target_of(FakeKube("old-aks-team-a-dev"), cfg).expected  # and at the start
    assert not guard.target_of(FakeKube("aks-tripgen-dev"), cfg).expected  # the default is replaced, not added to
    # the cluster name from the config is the default AKS context
    cfg = ToolConfig()
    cfg.azure.cluster_name = "aks-team-x"
    assert guard.target_of(FakeKube("aks-team-x"), cfg).expected and not guard.target_of(FakeKube("aks-tripgen-dev"), cfg).expected


def test_yes_is_not_the_override():
    cfg = ToolConfig()
    with pytest.raises(UsageError) as err:
        guard.require_expected(FakeKube("aks-tripgen-dev-prod"), cfg, "down")
    assert err.value.exit_code == 2 and "--allow-other-context" in err.value.message and "down refused" in err.value.message
    assert not guard.require_expected(FakeKube("aks-tripgen-dev-prod"), cfg, "down", allow_other_context=True).expected


def test_in_cluster_is_the_environment_only_for_its_own_namespace(monkeypatch):
    monkeypatch.setattr(guard, "_own_namespace", lambda: "team-ns")
    assert guard.target_of(FakeKube("in-cluster", "team-ns"), ToolConfig()).expected
    other = guard.target_of(FakeKube("in-cluster", "someone-else"), ToolConfig())
    assert not other.expected and "own namespace (team-ns)" in other.reason


def plan(**kw) -> safety.Plan:
    return safety.Plan("data reset", "tripgen-sandbox", "ns1", [safety.Change("table users", "dropped (11 rows)")], database="tripgen", **kw)


def gate(**opts) -> tuple[safety.Gate, list]:
    seen: list = []

    def confirm(question: str) -> None:
        seen.append(("asked", question))
        raise NotConfirmed("no")

    return safety.Gate(safety.Options(**opts), ToolConfig(), confirm=confirm, show_plan=lambda p: seen.append(("shown", p))), seen


def test_question_names_the_target_and_the_counts():
    q = plan(overwrites_rows=True).question()
    assert q == ("data reset in context tripgen-sandbox, namespace ns1, database tripgen: table users: dropped (11 rows)"
                 " (a safety backup is taken first). Continue?")


def test_gate_order():
    g, seen = gate(dry_run=True, yes=True)
    p = plan()
    assert g.approve(p) is False and seen == [("shown", p)] and p.dry_run  # a dry run never asks, never acts
    g, seen = gate()
    with pytest.raises(NotConfirmed):
        g.approve(plan())
    assert seen and seen[0][0] == "asked"
    g, seen = gate(yes=True)
    assert g.approve(plan()) is True and seen == []
    g, seen = gate()
    assert g.approve(plan(destructive=False)) is True and seen == []  # nothing to lose: no question


def test_perform_does_not_work_or_record_when_refused():
    g, _ = gate()
    calls = []
    with pytest.raises(NotConfirmed):
        g.perform(FakeKube("tripgen-sandbox"), plan(), lambda backup: calls.append(backup))
    assert calls == []


def test_event_shape():
    body = safety.event_body("ns1", "data init --force", "ok", "schema created", "ana@host", details={"safety-backup": "b/pre-init-1.dump"})
    assert body["involvedObject"] == {"apiVersion": "v1", "kind": "Namespace", "name": "ns1"}
    assert body["reason"] == "DataInit" and body["type"] == "Normal" and body["reportingComponent"] == "tripgenctl"
    assert body["message"] == "data init --force by ana@host: ok: schema created"
    ann = body["metadata"]["annotations"]
    assert ann["tripgenctl.io/by"] == "ana@host" and ann["tripgenctl.io/result"] == "ok" and ann["tripgenctl.io/safety-backup"] == "b/pre-init-1.dump"
    assert safety.event_body("ns1", "down", "failed", "x", "a@b")["type"] == "Warning"


class RecordingKube(FakeKube):
    """Our own Kube door's request_json, recording what would be POSTed."""

    def __init__(self):
        super().__init__("tripgen-sandbox", "ns1")
        self.posted: list[dict] = []

    def request_json(self, method, path, body=None, **kw):
        assert (method, path) == ("POST", "/api/v1/namespaces/ns1/events")
        self.posted.append(body)
        return 201, body


def test_trail_records_failures_and_interruptions_but_not_a_refused_question():
    import signal

    from tripgenctl.errors import ToolError

    g, _ = gate(yes=True)
    kube = RecordingKube()
    with pytest.raises(ToolError), g.trail(kube, plan()):
        raise ToolError("job sample-data-load failed")
    with pytest.raises(KeyboardInterrupt), g.trail(kube, plan()):
        raise safety.Interrupted(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), g.trail(kube, plan(), approved=False):  # Ctrl-C at restore's own question
        raise KeyboardInterrupt
    with pytest.raises(NotConfirmed), g.trail(kube, plan()):
        raise NotConfirmed("aborted: not confirmed")
    with g.trail(kube, plan()) as record:
        record.message = "done"
    results = [(b["metadata"]["annotations"]["tripgenctl.io/result"], b["message"].split(": ", 2)[-1]) for b in kube.posted]
    assert results == [("failed", "job sample-data-load failed"), ("interrupted", "interrupted (SIGTERM)"), ("ok", "done")]

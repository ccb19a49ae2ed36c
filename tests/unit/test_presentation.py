"""The one Reporter (presentation/reporter.py) and the question (presentation/prompts.py): plain
lines one per change, JSON lines in the run records' shape, a live display that starts with the
first update and that a question takes down before it is written (on a real pseudo-terminal)."""

from __future__ import annotations

import io
import json
import os
import select
import sys
import time

import pytest

from tripgenctl.errors import NotConfirmed
from tripgenctl.presentation import prompts
from tripgenctl.presentation.reporter import LineReporter, LiveReporter, reporter
from tripgenctl.presentation.terminal import is_terminal


def test_lines_one_per_change_and_the_detail_only_as_a_heartbeat():
    out = io.StringIO()
    rep = reporter("cluster stop", live=False, stream=out, stamp=False)
    for elapsed in range(3):  # the same status, ticking: one line
        rep.item("stop aks", "InProgress", detail=f"0m0{elapsed}s elapsed")
    rep.item("stop aks", "Succeeded", True, detail="0m03s elapsed")
    rep.item("deployment/a", "0/1 ready")
    rep.item("deployment/a", "0/1 ready")
    assert out.getvalue().splitlines() == ["stop aks: InProgress, 0m00s elapsed", "stop aks: Succeeded, 0m03s elapsed", "deployment/a: 0/1 ready"]

    beat = io.StringIO()
    rep = LineReporter("cluster stop", beat, stamp=False, heartbeat=0)
    rep.item("stop aks", "InProgress", detail="0m00s elapsed")
    rep.item("stop aks", "InProgress", detail="0m30s elapsed")
    rep.item("deployment/a", "0/1 ready")
    rep.item("deployment/a", "0/1 ready")  # no detail: never repeated
    assert beat.getvalue().splitlines() == ["stop aks: InProgress, 0m00s elapsed", "stop aks: InProgress, 0m30s elapsed", "deployment/a: 0/1 ready"]


def test_indented_lines_and_byte_counts_on_a_pipe():
    out = io.StringIO()
    rep = reporter("data", live=False, stream=out, stamp=False, indent="  ")
    rep.log("waiting for pod postgresql-0 to be Ready")
    assert out.getvalue() == "  waiting for pod postgresql-0 to be Ready\n"
    quiet = io.StringIO()
    progress = reporter("db backup", live=False, stream=quiet).transfer("pg_dump")
    progress(5_000_000)
    assert quiet.getvalue() == ""  # a quick transfer says nothing on a pipe (the result line does)
    loud = io.StringIO()
    progress = LineReporter("db restore", loud, stamp=False, heartbeat=0).transfer("restore", total=10_000_000)
    progress(2_500_000)
    assert loud.getvalue() == "restore: 2.5 MB of 10.0 MB\n"


def test_json_lines_share_the_run_records_writer():
    from tripgenctl.ops import runlog
    from tripgenctl.reporting import json_line

    assert runlog.emit is json_line  # one JSON-line writer
    out = io.StringIO()
    rep = reporter("down", stream=out, log_format="json")
    rep.phase("stopping applications")
    rep.item("trip-service", "1 → 0", ok=True)
    rep.transfer("restore")(1)
    phase, item = (json.loads(line) for line in out.getvalue().splitlines())
    assert set(phase) >= {"time", "level", "command", "message"} and phase["phase"] == "stopping applications"
    assert (item["command"], item["item"], item["state"], item["ok"], item["message"]) == ("down", "trip-service", "1 → 0", True, "trip-service: 1 → 0")


def test_the_terminal_check_takes_closed_and_odd_streams_as_no_terminal():
    closed = io.StringIO()
    closed.close()
    assert not is_terminal(closed) and not is_terminal(None) and not is_terminal(object()) and not is_terminal(io.StringIO())


class _Terminal:
    """A pseudo-terminal: the display writes to its secondary end, the test reads the main end."""

    def __init__(self):
        self.main, secondary = os.openpty()
        self.stream = os.fdopen(secondary, "w", encoding="utf-8", buffering=1)
        self.seen = b""

    def read(self, settle: float = 0.3) -> str:
        deadline = time.monotonic() + settle
        while time.monotonic() < deadline:
            if select.select([self.main], [], [], 0.05)[0]:
                self.seen += os.read(self.main, 65536)
        return self.seen.decode(errors="replace")

    def close(self):
        self.stream.close()
        os.close(self.main)


@pytest.fixture
def terminal(monkeypatch):
    t = _Terminal()
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("COLUMNS", "100")
    yield t
    t.close()


class _Keyboard(io.StringIO):
    """stdin at a terminal, with the answer already typed."""

    def isatty(self) -> bool:
        return True


def test_a_question_takes_the_live_display_down_first_and_it_comes_back(terminal, monkeypatch):
    monkeypatch.setattr(sys, "stderr", terminal.stream)  # before the display starts: it stands in for sys.stderr while drawn
    rep = reporter("deploy", stream=terminal.stream)
    assert isinstance(rep, LiveReporter)
    progress = rep.transfer("restore", total=1000)
    assert "restore" not in terminal.read(0.3) and rep.live is None  # made, but nothing drawn yet
    rep.item("deployment/a", "0/1 ready")
    progress(100)
    assert "deployment/a" in terminal.read() and rep.live is not None
    monkeypatch.setattr(sys, "stdin", _Keyboard("n\n"))
    with pytest.raises(NotConfirmed):
        prompts.confirm("Restore x.dump into database tripgen?", yes=False)
    shown = terminal.read(0.6)  # several refresh periods: a display still running would redraw
    assert shown.endswith("Restore x.dump into database tripgen? [y/N]: "), shown[-300:]
    assert rep.live is None
    monkeypatch.setattr(sys, "stdin", _Keyboard("y\n"))
    prompts.confirm("Go on?", yes=False)  # yes: the display comes back after the answer
    rep.item("deployment/a", "1/1 ready (rolled out)", True)
    assert rep.live is not None and "1/1 ready" in terminal.read().split("Go on? [y/N]: ", 1)[1]
    rep.close()
    assert rep.live is None


def test_without_a_terminal_a_question_is_a_refusal(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))
    with pytest.raises(NotConfirmed) as err:
        prompts.confirm("Delete 2 backup(s): a, b?", yes=False)
    assert err.value.message == "Delete 2 backup(s): a, b: refusing without a terminal; pass --yes to proceed"

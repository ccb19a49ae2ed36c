"""`db restore FILE` on a real terminal (a pty, stdin, stdout and stderr): the whole question is
printed before any progress bar (the bar used to be drawn over it, so the user answered blind);
"n" exits 2 and changes nothing; "y" restores, with its bar drawn only after the question."""

from __future__ import annotations

import json
import re

from tests.helpers import cli, on_pty, postgres_only, psql

SCHEMA = "CREATE TABLE trips (id int PRIMARY KEY, name text NOT NULL); INSERT INTO trips SELECT g, 'trip ' || g FROM generate_series(1, 300) g;"
LATER = "INSERT INTO trips SELECT g, 'added after the backup ' || g FROM generate_series(301, 350) g"
BAR = "━"  # Rich's bar (and its tables' heavy rule)
RESTORE_BAR = re.compile(r"restore[^\n]*━[^\n]*/[\d.]+ ?(bytes|kB|MB)")  # description, bar, done/total
TERMINAL = {"TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}
REDRAW = ("\x1b[1A", "\x1b[2K", "\x1b[?25l")  # cursor up, erase line, hide cursor: a live display at work


def rows(sandbox, ns: str) -> int:
    return int(psql(sandbox, ns, "SELECT count(*) FROM trips"))


def test_restore_on_a_terminal_asks_whole_before_any_progress_bar(sandbox, namespace, tmp_path):
    postgres_only(sandbox, namespace)
    psql(sandbox, namespace, SCHEMA)
    backups = tmp_path / "backups"
    made = cli(sandbox, "db", "backup", "--backup-dir", str(backups), "-o", "json", "-n", namespace)
    assert made.returncode == 0, made.stdout + made.stderr
    dump = backups / json.loads(made.stdout)["file"]
    psql(sandbox, namespace, LATER)  # what a restore would undo
    files = sorted(p.name for p in backups.iterdir())
    args = ["db", "restore", str(dump), "--backup-dir", str(backups), "-n", namespace]
    question = f"Restore {dump.name} into database tripgen in tripgen-sandbox/{namespace}? [y/N]: "

    code, out = on_pty(sandbox, args, b"n\r", wait_for=b"[y/N]: ", timeout=120, env=TERMINAL)
    assert question in out, out  # whole, in one piece
    before, after = out.split(question, 1)
    assert BAR not in before and "\x1b[" not in before, before  # nothing drawn before it
    assert not any(code_ in after for code_ in REDRAW) and BAR not in after, after  # nor over it afterwards
    assert code == 2 and "error: aborted: not confirmed" in after, out
    assert rows(sandbox, namespace) == 350  # nothing changed: not the rows ...
    assert sorted(p.name for p in backups.iterdir()) == files  # ... nor the backup directory (no safety backup)

    code, out = on_pty(sandbox, args, b"y\r", wait_for=b"[y/N]: ", timeout=240, env=TERMINAL)
    assert code == 0, out
    assert question in out, out
    before, after = out.split(question, 1)
    assert BAR not in before and "\x1b[" not in before, before
    assert RESTORE_BAR.search(after), after  # the restore's bar, after the answer
    assert rows(sandbox, namespace) == 300

"""The one renderer: every command's result is a dataclass (or a list of them); people get Rich
tables, scripts get JSON (or YAML, as kubectl users expect: `-o yaml`) with the same facts.
Commands never print their own tables.

A result dataclass can steer its table with two optional class attributes:
- `__table__ = ("field_a", "field_b")`  columns shown for a list of these rows (default: all
  scalar fields);
- `__sections__ = ("workloads", "pods")` list fields rendered as their own tables (default:
  every list-of-dataclass field), the remaining scalar fields shown as "key: value" lines first.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import json
import sys
from pathlib import Path
from typing import Any


def to_data(value: Any) -> Any:
    """Dataclasses -> plain JSON-able values (dates ISO 8601, paths as strings, enums by value)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_data(getattr(value, f.name)) for f in dataclasses.fields(value) if not f.name.startswith("_")}
    if isinstance(value, dict):
        return {str(k): to_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [to_data(v) for v in value]
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    return value


MACHINE_OUTPUTS = ("json", "yaml")


def is_machine(output: str) -> bool:
    """-o json / -o yaml: stdout carries the one document and nothing else (no extra tables or
    summary lines, which commands then leave out or send to stderr)."""
    return output in MACHINE_OUTPUTS


def render(result: Any, output: str = "table", title: str | None = None, file=None) -> None:
    out = file or sys.stdout
    if output == "json":
        out.write(json.dumps(to_data(result), indent=2, sort_keys=False) + "\n")
        return
    if output == "yaml":
        from tripgenctl import yamlsafe

        out.write(yamlsafe.dump(to_data(result)))
        return
    console = _console(out)
    if isinstance(result, (list, tuple)):
        console.print(_table(list(result), title))
        return
    if not (dataclasses.is_dataclass(result) and not isinstance(result, type)):
        console.print(result)
        return
    sections = getattr(result, "__sections__", None)
    fields = [f for f in dataclasses.fields(result) if not f.name.startswith("_")]
    if sections is None:
        sections = tuple(f.name for f in fields if _is_row_list(getattr(result, f.name)))
    for f in fields:
        if f.name in sections:
            continue
        value = getattr(result, f.name)
        if _scalar(value):
            console.print(f"[bold]{_label(f.name)}:[/bold] {_fmt(value)}")
    for name in sections:
        rows = getattr(result, name)
        if rows:
            console.print(_table(list(rows), _label(name)))


def _console(out):
    from rich.console import Console

    from tripgenctl.presentation.terminal import is_terminal

    return Console(file=out, highlight=False, soft_wrap=False, width=None if is_terminal(out) else 200)


def _is_row_list(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and bool(value) and dataclasses.is_dataclass(value[0])


def _scalar(value: Any) -> bool:
    return not isinstance(value, (list, tuple, dict, set)) and not dataclasses.is_dataclass(value)


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={_fmt(v)}" for k, v in value.items())
    return str(value)


def _table(rows: list[Any], title: str | None):
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_lines=False, header_style="bold")
    if not rows:
        return table
    first = rows[0]
    if dataclasses.is_dataclass(first):
        columns = getattr(first, "__table__", None) or tuple(
            f.name for f in dataclasses.fields(first) if not f.name.startswith("_") and _scalar_or_short(getattr(first, f.name))
        )
        for c in columns:
            table.add_column(c.replace("_", " ").upper())
        bar = getattr(first, "__bar__", None)
        if bar:
            table.add_column("")
        top = max((float(getattr(r, bar) or 0) for r in rows), default=0.0) if bar else 0.0
        for row in rows:
            cells = [_fmt(getattr(row, c)) for c in columns]
            if bar:
                cells.append(_bar(float(getattr(row, bar) or 0), top))
            table.add_row(*cells)
    else:
        table.add_column("VALUE")
        for row in rows:
            table.add_row(_fmt(row))
    return table


BAR_WIDTH = 30


def _bar(value: float, top: float) -> str:
    """A row's share of the largest value as a bar of block characters (a `__bar__` field)."""
    if top <= 0 or value <= 0:
        return ""
    eighths = round(value / top * BAR_WIDTH * 8)
    return "█" * (eighths // 8) + ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")[eighths % 8]


def _scalar_or_short(value: Any) -> bool:
    return _scalar(value) or (isinstance(value, (list, tuple)) and all(_scalar(v) for v in value))


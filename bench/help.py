"""How fast `--help` answers, against a bare Typer app's `--help` measured in the same run
(issue 15's target: each ratio <= 1.3). Runs are interleaved (bare, ours, bare, ours ...) so a
machine that drifts affects both sides alike; medians are compared.

    .venv/bin/python bench/help.py [--runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BARE_APP = '''
import typer
app = typer.Typer()

@app.command()
def first(x: int = 1) -> None:
    """A command."""

@app.command()
def second() -> None:
    """Another."""

app()
'''

COMMANDS = {
    "--help": ["--help"],
    "db --help": ["db", "--help"],
    "doctor --help": ["doctor", "--help"],
}


def wall(argv: list[str], cwd: str) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as tmp:
        bare = Path(tmp) / "bare.py"
        bare.write_text(BARE_APP)
        bare_argv = [sys.executable, str(bare), "--help"]
        ours = {name: [sys.executable, "-m", "tripgenctl", *args] for name, args in COMMANDS.items()}
        for argv in [bare_argv, *ours.values()]:  # warm-up: bytecode caches, page cache
            wall(argv, tmp)
        base: list[float] = []
        times: dict[str, list[float]] = {name: [] for name in ours}
        for _ in range(runs):
            for name, argv in ours.items():
                base.append(wall(bare_argv, tmp))
                times[name].append(wall(argv, tmp))
        b = statistics.median(base)
        print(f"bare Typer app --help: median {b * 1000:.0f} ms over {len(base)} runs")
        for name, t in times.items():
            m = statistics.median(t)
            print(f"tripgenctl {name:<14} median {m * 1000:.0f} ms  ratio {m / b:.2f}  (target <= 1.3)")


if __name__ == "__main__":
    main()

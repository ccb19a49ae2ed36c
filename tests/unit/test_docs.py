"""The documents a newcomer reads first stay usable: README tables keep their columns (a bare `|`
inside a cell splits it), and the image recipe installs only the product wheel, as non-root."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


def _tables(text: str) -> list[list[str]]:
    tables, current, fence = [], [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fence = not fence
        if not fence and line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    return tables + ([current] if current else [])


def test_readme_tables_have_one_column_count_each():
    for doc in (ROOT / "README.md", ROOT / "docs" / "ARCHITECTURE.md"):
        for table in _tables(doc.read_text()):
            widths = [len(UNESCAPED_PIPE.findall(row)) for row in table]
            assert len(set(widths)) == 1, f"{doc.name}: a row has a different number of cells: {table}"


def test_readme_tells_a_newcomer_how_to_run_it():
    text = (ROOT / "README.md").read_text()
    for needle in ("source .venv/bin/activate", "pipx install", "azure.env", "--install-completion"):
        assert needle in text, needle


def test_dockerfile_builds_the_wheel_and_runs_only_it_as_non_root():
    text = (ROOT / "Dockerfile").read_text()
    stages = re.split(r"^FROM ", text, flags=re.M)[1:]
    assert len(stages) == 2, "a build stage and a runtime stage"
    build, runtime = stages
    assert "pip wheel" in build and "sandbox" not in build.replace("# ", "").split("\n", 1)[1].lower()
    assert "COPY --from=build /opt/tripgenctl /opt/tripgenctl" in runtime
    assert not re.search(r"^COPY (?!--from)", runtime, flags=re.M), "the runtime copies nothing from the checkout"
    user = re.search(r"^USER (\S+)", runtime, flags=re.M)
    assert user and user.group(1) not in ("0", "root")

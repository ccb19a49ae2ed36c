"""Everything tripgenctl shows a person or a script, in one place: the renderer (render.py:
result dataclass -> table / JSON / YAML), the progress Reporter (reporter.py: a live display on
a terminal, plain lines or JSON lines otherwise), the one terminal check (terminal.py), the
questions (prompts.py) and doctor's panels (doctor.py). Only this package and cli/ import Rich,
and only lazily, so `--help` stays fast; ops know nothing of it (they take a
tripgenctl.reporting.Reporter and a confirm callback)."""
